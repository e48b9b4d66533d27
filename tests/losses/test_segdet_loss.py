from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from monai.losses import DiceLoss

from cellbundles.losses import SegDetLoss


def make_batch(batch_size=2, shape=(6, 8, 8), seed=0):
    generator = torch.Generator().manual_seed(seed)
    prediction = torch.randn(batch_size, 3, *shape, generator=generator)
    prediction[:, 2] = prediction[:, 2].abs()
    target = {
        "label": (torch.rand(batch_size, 1, *shape, generator=generator) > 0.6).float(),
        "weight": 1 + 9 * torch.rand(batch_size, 1, *shape, generator=generator),
        "density": torch.rand(batch_size, 1, *shape, generator=generator) * 0.1,
    }
    return prediction.requires_grad_(True), target


def test_segmentation_terms_give_zero_gradient_for_centroid_only_samples():
    prediction, target = make_batch()
    target["has_mask"] = torch.tensor([[1.0], [0.0]])
    SegDetLoss(density_weight=0.0)(prediction, target).backward()
    assert torch.count_nonzero(prediction.grad[1]) == 0
    assert torch.count_nonzero(prediction.grad[0, :2]) > 0


def test_density_term_gives_zero_gradient_for_mask_only_samples():
    prediction, target = make_batch()
    target["has_centroids"] = torch.tensor([0.0, 1.0])
    SegDetLoss(dice_weight=0.0, ce_weight=0.0)(prediction, target).backward()
    assert torch.count_nonzero(prediction.grad[0]) == 0
    assert torch.count_nonzero(prediction.grad[1, 2]) > 0
    assert torch.count_nonzero(prediction.grad[:, :2]) == 0


def test_batch_without_masks_has_zero_segmentation_terms():
    prediction, target = make_batch()
    target["has_mask"] = torch.zeros(2, 1)
    target["has_centroids"] = torch.ones(2, 1)
    loss_function = SegDetLoss()
    terms = loss_function.components(prediction, target)
    assert terms["dice"].item() == 0.0 and terms["ce"].item() == 0.0
    loss = loss_function(prediction, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(prediction.grad).all()
    assert torch.count_nonzero(prediction.grad[:, :2]) == 0


def test_terms_without_flags_match_reference_losses():
    prediction, target = make_batch()
    terms = SegDetLoss().components(prediction, target)
    logits, density = prediction[:, :2], prediction[:, 2:]
    dice = DiceLoss(to_onehot_y=True, softmax=True)(logits, target["label"])
    ce = (F.cross_entropy(logits, target["label"][:, 0].long(), reduction="none") * target["weight"][:, 0]).mean()
    l1 = F.l1_loss(density, target["density"])
    torch.testing.assert_close(terms["dice"], dice)
    torch.testing.assert_close(terms["ce"], ce)
    torch.testing.assert_close(terms["density"], l1)
    total = SegDetLoss(dice_weight=2.0, ce_weight=0.5, density_weight=3.0)(prediction, target)
    torch.testing.assert_close(total, 2 * dice + 0.5 * ce + 3 * l1)


def test_masked_mean_equals_the_loss_of_the_annotated_samples_alone():
    prediction, target = make_batch(batch_size=3)
    target["has_mask"] = torch.tensor([1.0, 0.0, 1.0])
    target["has_centroids"] = torch.tensor([0.0, 1.0, 0.0])
    loss_function = SegDetLoss()
    terms = loss_function.components(prediction, target)
    keys = ("label", "weight", "density")
    with_masks = loss_function.components(prediction[[0, 2]], {k: target[k][[0, 2]] for k in keys})
    with_centroids = loss_function.components(prediction[[1]], {k: target[k][[1]] for k in keys})
    torch.testing.assert_close(terms["dice"], with_masks["dice"])
    torch.testing.assert_close(terms["ce"], with_masks["ce"])
    torch.testing.assert_close(terms["density"], with_centroids["density"])


def test_distance_term_is_the_binary_cross_entropy_of_the_annotated_samples():
    prediction, target = make_batch(batch_size=3)
    distance_logit = torch.randn(3, 1, 6, 8, 8)
    prediction = torch.cat([prediction.detach(), distance_logit], dim=1).requires_grad_(True)
    target["distance"] = torch.rand(3, 1, 6, 8, 8)
    target["has_mask"] = torch.tensor([1.0, 0.0, 1.0])
    loss_function = SegDetLoss(distance_weight=2.0)
    terms = loss_function.components(prediction, target)
    reference = F.binary_cross_entropy(torch.sigmoid(distance_logit[[0, 2]]), target["distance"][[0, 2]])
    torch.testing.assert_close(terms["distance"], reference)
    without = SegDetLoss().components(prediction[:, :3], target)
    torch.testing.assert_close(loss_function(prediction, target), sum(without.values()) + 2 * reference)
    loss_function(prediction, target).backward()
    assert torch.count_nonzero(prediction.grad[1, 3]) == 0 and torch.count_nonzero(prediction.grad[0, 3]) > 0


def test_distance_term_needs_the_distance_channel():
    prediction, target = make_batch()
    target["distance"] = torch.rand(2, 1, 6, 8, 8)
    with pytest.raises(ValueError, match=r"expected input \(B, 4"):
        SegDetLoss(distance_weight=1.0)(prediction, target)


def test_weight_map_is_optional_and_scales_cross_entropy():
    prediction, target = make_batch()
    target.pop("weight")
    unweighted = SegDetLoss().components(prediction, target)["ce"]
    target["weight"] = torch.full_like(target["label"], 2.0)
    torch.testing.assert_close(SegDetLoss().components(prediction, target)["ce"], 2 * unweighted)


def test_two_dimensional_batches():
    prediction, target = make_batch(shape=(16, 12))
    loss = SegDetLoss()(prediction, target)
    assert loss.ndim == 0 and loss > 0


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda t: t.pop("density"), "density"),
        (lambda t: t.update(label=torch.zeros(2, 1, 6, 8, 7)), "shape"),
        (lambda t: t.update(has_mask=torch.ones(3)), "flag"),
    ],
)
def test_bad_targets_raise(mutate, match):
    prediction, target = make_batch()
    mutate(target)
    with pytest.raises(ValueError, match=match):
        SegDetLoss()(prediction, target)


def test_tensor_target_is_rejected_with_a_hint():
    prediction, target = make_batch()
    with pytest.raises(ValueError, match="PrepareBatchTargetDict"):
        SegDetLoss()(prediction, target["label"])
