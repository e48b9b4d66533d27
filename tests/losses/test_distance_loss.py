"""ForegroundDistanceLoss against MONAI's DiceCELoss plus a hand-computed mean squared error."""

from __future__ import annotations

import pytest
import torch
from monai.losses import DiceCELoss

from cellbundles.losses import ForegroundDistanceLoss


def test_value_and_gradient():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    target = torch.stack([torch.randint(0, 2, (2, 8, 8)).float(), torch.rand(2, 8, 8)], dim=1)
    loss = ForegroundDistanceLoss(distance_weight=2.0)(logits, target)
    expected_seg = DiceCELoss(to_onehot_y=True, softmax=True)(logits[:, :2], target[:, :1])
    expected_distance = ((torch.sigmoid(logits[:, 2]) - target[:, 1]) ** 2).mean()
    assert loss.item() == pytest.approx((expected_seg + 2.0 * expected_distance).item(), rel=1e-6)
    loss.backward()
    assert logits.grad[:, 2].abs().sum() > 0


def test_zero_weight_is_the_segmentation_loss_and_shapes_are_checked():
    logits = torch.randn(1, 3, 4, 4)
    target = torch.stack([torch.ones(1, 4, 4), torch.zeros(1, 4, 4)], dim=1)
    seg = DiceCELoss(to_onehot_y=True, softmax=True)(logits[:, :2], target[:, :1])
    assert ForegroundDistanceLoss(0.0)(logits, target).item() == pytest.approx(seg.item())
    with pytest.raises(ValueError, match="expected input"):
        ForegroundDistanceLoss()(torch.randn(1, 2, 4, 4), target)
    with pytest.raises(ValueError, match="distance_weight"):
        ForegroundDistanceLoss(-1.0)
