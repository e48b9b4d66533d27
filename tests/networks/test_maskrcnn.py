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
