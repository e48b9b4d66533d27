"""Reduced ResNet-50 + FPN backbone, the Mask R-CNN built on it and seed 004's weighted mask loss."""

from __future__ import annotations

import math

import pytest
import torch

from cellbundles.losses import MaskRCNNLossSum, weighted_mask_loss
from cellbundles.networks import ReducedMaskRCNN, ReducedResNet50, count_parameters, reduced_resnet50_fpn
from cellbundles.networks.maskrcnn import script_for_inference


def test_reduced_resnet50_halves_blocks_and_widths():
    body = ReducedResNet50()
    assert body.conv1.in_channels == 1 and body.conv1.out_channels == 32
    stages = [body.layer1, body.layer2, body.layer3, body.layer4]
    assert [len(stage) for stage in stages] == [2, 2, 4, 2]
    assert [stage[0].conv1.out_channels for stage in stages] == [32, 64, 128, 256]
    assert [stage[-1].conv3.out_channels for stage in stages] == [128, 256, 512, 1024]
    assert [stage[0].conv2.stride for stage in stages] == [(1, 1), (2, 2), (2, 2), (2, 2)]


def test_pyramid_levels_have_256_channels_at_strides_4_to_64():
    pyramid = reduced_resnet50_fpn().eval()
    with torch.no_grad():
        levels = pyramid(torch.rand(1, 1, 128, 128))
    assert list(levels) == ["0", "1", "2", "3", "pool"]
    assert [tuple(level.shape) for level in levels.values()] == [(1, 256, 128 // s, 128 // s) for s in (4, 8, 16, 32, 64)]


def test_parameter_count_is_documented():
    model = ReducedMaskRCNN()
    assert count_parameters(model.backbone.body) == 4_053_600
    assert count_parameters(model) == 11_584_507


def test_weighted_mask_loss_matches_a_hand_computed_value():
    logits = torch.tensor([[[0.0, math.log(3.0)]]])
    targets = torch.tensor([[[1.0, 0.0]]])
    weights = torch.tensor([[[1.0, 2.0]]])
    # BCE(0, 1) = ln 2 with weight 1; BCE(ln 3, 0) = ln(1 + 3) = 2 ln 2 with weight 2; mean of 2 pixels
    assert weighted_mask_loss(logits, targets, weights).item() == pytest.approx(2.5 * math.log(2.0))
    assert weighted_mask_loss(logits[:0], targets[:0], weights[:0]).item() == 0.0


def test_loss_sum_uses_seed_004_weights():
    terms = ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask")
    losses = {name: torch.tensor(float(i + 1)) for i, name in enumerate(terms)}
    assert MaskRCNNLossSum()(losses).item() == pytest.approx(1 * 1 + 2 * 2 + 1 * 3 + 2 * 4 + 2 * 5)
    with pytest.raises(ValueError, match="no weight"):
        MaskRCNNLossSum({"loss_mask": 1.0})(losses)


def _mask_loss(model, weight: float) -> float:
    """Training ``loss_mask`` of one image with two squares, with a uniform weight map."""
    masks = torch.zeros(2, 64, 64, dtype=torch.uint8)
    masks[0, 8:24, 8:24] = 1
    masks[1, 30:50, 34:60] = 1
    target = {
        "boxes": torch.tensor([[8.0, 8.0, 24.0, 24.0], [34.0, 30.0, 60.0, 50.0]]),
        "labels": torch.ones(2, dtype=torch.int64),
        "masks": masks,
        "mask_weights": torch.full((64, 64), weight),
    }
    torch.manual_seed(0)
    return model([torch.rand(1, 64, 64)], [target])["loss_mask"].item()


def test_roi_heads_weight_the_mask_loss_by_the_weight_map():
    torch.manual_seed(0)
    model = ReducedMaskRCNN().train()
    plain = _mask_loss(model, 1.0)
    assert plain > 0
    assert _mask_loss(model, 2.0) == pytest.approx(2 * plain, rel=1e-5)
    assert _mask_loss(model, 0.0) == 0.0


def _test_proposals(model, image: torch.Tensor) -> int:
    """Number of region proposals the RPN of ``model`` (in evaluation mode) passes to the heads for ``image``."""
    with torch.no_grad():
        images, _ = model.transform([image])
        proposals, _ = model.rpn(images, model.backbone(images.tensors))
    return len(proposals[0])


def test_test_time_proposals_are_set_apart_from_training():
    """``rpn_*_nms_top_n_test`` bound the proposals in evaluation only; training keeps its own numbers."""
    torch.manual_seed(0)
    small = dict(widths=(8, 16, 32, 64), fpn_channels=32, mask_head_channels=16)
    few = ReducedMaskRCNN(rpn_pre_nms_top_n_test=40, rpn_post_nms_top_n_test=7, **small).eval()
    image = torch.rand(1, 128, 128)
    assert _test_proposals(few, image) == 7
    few.rpn._post_nms_top_n["testing"] = 1000  # the class default
    assert _test_proposals(few, image) > 7
    many = ReducedMaskRCNN(rpn_pre_nms_top_n_test=3000, rpn_post_nms_top_n_test=2500, **small)
    assert (many.eval().rpn.pre_nms_top_n(), many.rpn.post_nms_top_n()) == (3000, 2500)
    assert (many.train().rpn.pre_nms_top_n(), many.rpn.post_nms_top_n()) == (2000, 1000)


def test_masks_are_pasted_as_torchvision_pastes_them():
    """The one-by-one pasting of ``NativeScaleTransform`` (it saves a full-size copy) gives torchvision's masks."""
    from torchvision.models.detection.roi_heads import paste_masks_in_image

    torch.manual_seed(0)
    transform = ReducedMaskRCNN().transform.eval()
    boxes = torch.tensor([[3.0, 4.0, 20.0, 30.0], [50.0, 40.0, 79.5, 59.0], [-5.0, 10.0, 12.0, 70.0]])  # last two cross the border
    masks = torch.rand(3, 1, 28, 28)
    (pasted,) = transform.postprocess([{"boxes": boxes, "masks": masks}], [(60, 80)], [(60, 80)])
    assert pasted["masks"].shape == (3, 1, 60, 80)
    torch.testing.assert_close(pasted["masks"], paste_masks_in_image(masks, boxes, (60, 80)), rtol=0, atol=0)
    (empty,) = transform.postprocess([{"boxes": boxes[:0], "masks": masks[:0]}], [(60, 80)], [(60, 80)])
    assert empty["masks"].shape == (0, 1, 60, 80)


def test_torchscript_of_the_inference_model_matches_eager():
    torch.manual_seed(0)
    model = ReducedMaskRCNN(detections_per_img=5).eval()
    scripted = script_for_inference(model)
    image = [torch.rand(1, 64, 64)]
    with torch.no_grad():
        eager, (_, scripted_out) = model(image)[0], scripted(image)
    assert set(eager) == {"boxes", "labels", "scores", "masks"}
    for key, value in eager.items():
        torch.testing.assert_close(scripted_out[0][key], value)
    assert isinstance(model.roi_heads, type(ReducedMaskRCNN().roi_heads))  # the original keeps its weighted heads


def test_torch_export_fails_on_the_data_dependent_number_of_detections():
    """Why the bundles ship TorchScript (above) and not ``torch.export``: the boxes surviving NMS are data-dependent."""
    model = ReducedMaskRCNN(detections_per_img=5, widths=(8, 16, 32, 64), fpn_channels=32, mask_head_channels=16)
    with pytest.raises(Exception, match="data-dependent") as error:
        torch.export.export(model.eval(), ([torch.rand(1, 64, 64)],))
    assert "batched_nms" in str(error.value)
