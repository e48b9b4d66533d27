"""Loss terms of seed 001's Recycle-GAN against values computed by hand on tiny tensors (issue 15, item 3)."""

from __future__ import annotations

import math

import pytest
import torch

from cellbundles import losses
from cellbundles.losses import recyclegan as gan


def _mean_of_slices(x: torch.Tensor) -> torch.Tensor:
    """A stand-in predictor: the mean of the S input slices, ``(B, S, H, W)`` -> ``(B, 1, H, W)``."""
    return x.mean(dim=1, keepdim=True)


# one chunk of S + 1 = 3 slices of 1 x 2 pixels: x1 = [0, 2], x2 = [2, 4], x3 = [1, 1]
SLICES = torch.tensor([[[[0.0, 2.0]], [[2.0, 4.0]], [[1.0, 1.0]]]])


def test_the_losses_package_exports_the_recyclegan_names():
    assert set(gan.__all__) <= set(losses.__all__)
    assert all(getattr(losses, name) is getattr(gan, name) for name in gan.__all__)
    assert {"contour_loss", "lsgan_loss", "recycle_loss", "recurrent_loss", "slicewise"} <= set(gan.__all__)


def test_lambdas_are_the_papers():
    assert gan.RECYCLE_GAN_LAMBDAS == (1.0, 10.0, 10.0, 10.0, 0.1)


def test_lsgan_terms():
    scores = torch.tensor([0.5, 1.5])
    assert gan.lsgan_loss(scores, real=True).item() == pytest.approx(0.25)  # (0.25 + 0.25) / 2
    assert gan.lsgan_loss(scores, real=False).item() == pytest.approx(1.25)  # (0.25 + 2.25) / 2
    assert gan.discriminator_loss(torch.ones(3), torch.tensor([0.5])).item() == pytest.approx(0.125)  # (0 + 0.25) / 2


def test_recurrent_loss():
    # P(x1, x2) = [1, 3]; |x3 - P| = [0, 2]
    assert gan.recurrent_loss(_mean_of_slices, SLICES).item() == pytest.approx(1.0)


def test_recycle_loss():
    # G_f doubles: [0, 4], [4, 8]; P averages: [2, 6]; G_b subtracts 1: [1, 5]; |x3 - [1, 5]| = [0, 4]
    loss = gan.recycle_loss(lambda x: 2 * x, lambda x: x - 1, _mean_of_slices, SLICES)
    assert loss.item() == pytest.approx(2.0)


def test_slicewise_applies_a_one_slice_network_to_each_slice():
    out = gan.slicewise(lambda x: x[:, :, :, :1] * 3, SLICES)
    assert out.shape == (1, 3, 1, 1) and out.flatten().tolist() == [0.0, 6.0, 3.0]


def test_contour_loss_weights_errors_by_both_distance_transforms():
    target = torch.tensor([-1.0, 1.0, 1.0, 1.0, -1.0]).reshape(1, 1, 1, 5)
    prediction = torch.tensor([-1.0, -1.0, 1.0, 1.0, 1.0]).reshape(1, 1, 1, 5)
    # DT(target) = [0, 1, 2, 1, 0], DT(prediction) = [0, 0, 1, 2, 3] (distance to the nearest background pixel)
    # (t - p)^2 = [0, 4, 0, 0, 4]; weights DT_t^2 + DT_p^2 = [0, 1, 5, 5, 9]; mean = (4 + 36) / 5 = 8
    assert gan.contour_loss(prediction, target).item() == pytest.approx(math.sqrt(8.0), rel=1e-5)
    both = gan.contour_loss(torch.cat([prediction, target]), torch.cat([target, target]))
    assert both.item() == pytest.approx(math.sqrt(8.0) / 2, rel=1e-4)  # mean over the batch of the square roots


def test_contour_loss_has_finite_gradients_and_checks_shapes():
    prediction = torch.tensor([-1.0, -0.5, 0.5, 0.9, 0.2]).reshape(1, 1, 1, 5).requires_grad_()
    target = torch.tensor([-1.0, 1.0, 1.0, 1.0, -1.0]).reshape(1, 1, 1, 5)
    gan.contour_loss(prediction, target).backward()
    assert torch.isfinite(prediction.grad).all() and prediction.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="differ"):
        gan.contour_loss(prediction, target[..., :4])
