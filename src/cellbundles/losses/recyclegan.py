"""Loss terms of the Recycle-GAN along z of seed 001 (Eq. 4) and its contour constraint (Eq. 5).

References:
    - Seed 001, section 2.1, Eq. 4: ``L = L_GAN(G1, D2) + L_GAN(G2, D1) + l1 L_recycle(G1, G2, P2) +
      l2 L_recycle(G2, G1, P1) + l3 L_recurrent(P1) + l4 L_recurrent(P2) + l5 L_contour(G2, P1)`` with
      ``l = 1, 10, 10, 10, 0.1`` and ``S = 10``; Eq. 5, the Hausdorff-distance estimate of Karimi and Salcudean
      ("Reducing the Hausdorff distance in medical image segmentation with convolutional neural networks", IEEE TMI
      39, 2020): the squared error weighted by the squared distance transforms of both volumes.
    - Bansal et al., "Recycle-GAN: Unsupervised Video Retargeting", ECCV 2018 (Eqs. 2-5): least-squares adversarial
      terms (Mao et al., LSGAN, ICCV 2017) and the recurrent and recycle terms; their implementation measures the
      latter with the L1 norm, as CycleGAN does, and so does this module.

Slices: a chunk of ``S + 1`` consecutive ``xy`` slices of a volume is a tensor ``(B, S + 1, H, W)``, slices in
z order; the networks see one slice ``(B, 1, H, W)`` (generators, discriminators) or ``S`` slices as channels
(predictors). Both domains are scaled to ``[-1, 1]``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy import ndimage

__all__ = [
    "RECYCLE_GAN_LAMBDAS",
    "contour_loss",
    "discriminator_loss",
    "distance_to_background",
    "lsgan_loss",
    "recurrent_loss",
    "recycle_loss",
    "slicewise",
]

RECYCLE_GAN_LAMBDAS = (1.0, 10.0, 10.0, 10.0, 0.1)
"""``(l1, ..., l5)`` of Eq. 4: recycle (G1, G2, P2), recycle (G2, G1, P1), recurrent P1, recurrent P2, contour."""

Network = Callable[[torch.Tensor], torch.Tensor]


def slicewise(network: Network, slices: torch.Tensor) -> torch.Tensor:
    """Apply a one-slice network to every slice: ``(B, T, H, W)`` -> ``(B, T, H', W')`` (one output channel)."""
    batch, count = slices.shape[:2]
    output = network(slices.reshape(batch * count, 1, *slices.shape[2:]))
    return output.reshape(batch, count, *output.shape[2:])


def lsgan_loss(scores: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN term: ``mean((D - 1)^2)`` for ``real``, ``mean(D^2)`` otherwise (any shape)."""
    return torch.mean((scores - 1.0) ** 2) if real else torch.mean(scores**2)


def discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """``0.5 * (lsgan(real, True) + lsgan(fake, False))``: the discriminator's loss, halved as in CycleGAN."""
    return 0.5 * (lsgan_loss(real_scores, True) + lsgan_loss(fake_scores, False))


def recurrent_loss(predictor: Network, slices: torch.Tensor) -> torch.Tensor:
    """``L_recurrent(P) = |x_{S+1} - P(x_{1:S})|_1`` (mean), the predictor on one domain.

    Args:
        predictor: ``(B, S, H, W)`` -> ``(B, 1, H, W)``.
        slices: ``(B, S + 1, H, W)``.
    """
    return torch.mean(torch.abs(slices[:, -1:] - predictor(slices[:, :-1])))


def recycle_loss(
    forward: Network,
    backward: Network,
    predictor: Network,
    slices: torch.Tensor,
    translated: torch.Tensor | None = None,
) -> torch.Tensor:
    """``L_recycle(G_f, G_b, P) = |x_{S+1} - G_b(P(G_f(x_{1:S})))|_1`` (mean): translate ``S`` slices, predict the
    next one in the other domain, translate it back.

    Args:
        forward: one-slice generator into the other domain.
        backward: one-slice generator back.
        predictor: predictor of the other domain.
        slices: ``(B, S + 1, H, W)`` of this domain.
        translated: ``G_f(x_{1:S})`` ``(B, S, H, W)`` when already computed (``forward`` is then not called).
    """
    if translated is None:
        translated = slicewise(forward, slices[:, :-1])
    return torch.mean(torch.abs(slices[:, -1:] - backward(predictor(translated))))


def distance_to_background(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance of every voxel to the nearest background voxel (0 on the background), per item of
    ``mask`` ``(N, ...)`` (boolean); an item without background is all zero (no boundary to measure)."""
    distances = np.zeros(mask.shape, dtype=np.float32)
    for index, item in enumerate(mask):
        if item.any() and not item.all():
            distances[index] = ndimage.distance_transform_edt(item)
    return distances


def contour_loss(prediction: torch.Tensor, target: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """Eq. 5 of seed 001: ``mean_b sqrt(mean((t - p)^2 * (DT(t)^2 + DT(p)^2)))``.

    ``DT`` is the distance (voxels) of every voxel to the nearest background voxel of the volume thresholded at
    ``threshold`` (the middle of ``[-1, 1]``), computed without gradient, per batch item and channel; errors far inside
    either object's boundary weigh most, which estimates the Hausdorff distance between the two boundaries.

    Args:
        prediction: ``(B, C, *spatial)``, e.g. ``P1(G2(I_syn))``, one predicted binary slice.
        target: the same shape, ``I_binary``'s slice.
    """
    if prediction.shape != target.shape:
        raise ValueError(f"contour_loss: prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ.")
    weights = [
        distance_to_background(volume.detach().cpu().numpy().reshape(-1, *volume.shape[2:]) > threshold)
        for volume in (target, prediction)
    ]
    weight = torch.as_tensor(weights[0] ** 2 + weights[1] ** 2, device=target.device).reshape(target.shape)
    per_item = torch.mean(((target - prediction) ** 2 * weight).flatten(1), dim=1)
    return torch.mean(torch.sqrt(per_item + 1e-12))
