"""The M1 / M2 loss of seed 001 (:mod:`cellbundles.losses.shape`) against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cellbundles.losses import ContourRegularisedLoss, SegShapeLoss, edge_map
from cellbundles.synth.utils import instance_contour


def test_edge_map_of_a_binary_volume_is_its_contour():
    volume = np.zeros((5, 6, 7), np.int32)
    volume[1:4, 1:5, 0:4] = 1  # touches the x = 0 edge of the volume
    edges = edge_map(torch.from_numpy(volume).float()[None, None])[0, 0].numpy()
    np.testing.assert_array_equal(edges, instance_contour(volume))
    assert edges.sum() == 3 * 4 * 4 - 1 * 2 * 2  # all voxels but the interior 1 x 2 x 2 (x = 0 is a boundary)


def test_edge_map_of_soft_values():
    # p = 0.9, 0.5, 0.2 along x of a 1 x 1 x 3 volume: every voxel has neighbours outside (0), so the erosion is 0
    p = torch.tensor([0.9, 0.5, 0.2]).reshape(1, 1, 1, 1, 3)
    torch.testing.assert_close(edge_map(p), p)
    # in the middle of a 3 x 3 x 3 block of 0.8 with one face neighbour of 0.3: 0.8 - 0.3
    block = torch.full((1, 1, 5, 5, 5), 0.8)
    block[0, 0, 2, 2, 1] = 0.3
    assert edge_map(block)[0, 0, 2, 2, 2].item() == pytest.approx(0.5)


# logits 0 (p = 0.5) in a 1 x 1 x 3 volume, target and contour (1, 1, 0):
#   BCE  = ln 2 for every voxel;
#   Dice = 1 - (2 * (0.5 + 0.5) + 1e-5) / (1.5 + 2 + 1e-5) = 1 - 2 / 3.5 (MONAI's smoothing, 1e-5);
#   edge map = 0.5 everywhere (every voxel touches the outside), MSE = (0.25 + 0.25 + 0.25) / 3 = 0.25.
BCE, DICE, CONTOUR = math.log(2.0), 1.0 - (2.0 + 1e-5) / (3.5 + 1e-5), 0.25


def _tiny():
    logits = torch.zeros(1, 1, 1, 1, 3)
    target = torch.tensor([1.0, 1.0, 0.0]).reshape(1, 1, 1, 1, 3)
    return logits, target, target.clone()


def test_contour_regularised_loss_against_hand_computed_terms():
    logits, target, contour = _tiny()
    loss = ContourRegularisedLoss()
    terms = loss.components(logits, target, contour)
    assert terms["bce"].item() == pytest.approx(BCE)
    assert terms["dice"].item() == pytest.approx(DICE)
    assert terms["contour"].item() == pytest.approx(CONTOUR)
    assert loss(logits, target, contour).item() == pytest.approx(BCE + DICE + CONTOUR)
    weighted = ContourRegularisedLoss(bce_weight=2.0, dice_weight=0.5, contour_weight=4.0)
    assert weighted(logits, target, contour).item() == pytest.approx(2 * BCE + 0.5 * DICE + 4 * CONTOUR)


def test_seg_shape_loss_sums_m1_and_m2_and_has_gradients():
    logits, target, contour = _tiny()
    input = torch.zeros(1, 2, 1, 1, 3, requires_grad=True)
    loss = SegShapeLoss(shape_weight=0.5)
    value = loss(input, {"label_binary": target, "shapemarker": target, "contour": contour})
    assert value.item() == pytest.approx(1.5 * (BCE + DICE + CONTOUR))
    value.backward()
    assert input.grad is not None and torch.all(torch.isfinite(input.grad)) and input.grad.abs().sum() > 0
    with pytest.raises(KeyError, match="contour"):
        loss(input, {"label_binary": target, "shapemarker": target})
    with pytest.raises(ValueError, match="2 channels"):
        loss(input[:, :1], {"label_binary": target, "shapemarker": target, "contour": contour})
