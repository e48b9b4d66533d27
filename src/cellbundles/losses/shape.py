"""Training loss of M1 and M2 (seed 001): BCE + Dice + MSE between I_contour and the edge map of the prediction.

Reference:
    Seed 001, section 2.2: "The training loss here is the same as described in [21] (binary cross entropy and Dice)
    but with an addition of L_MSE{I_contour, C(I_seg)}, where C(.) is a Canny edge function that finds the edges of a
    binary volume." A Canny detector has no gradient, so :func:`edge_map` is a differentiable stand-in: the
    prediction minus its erosion by the face neighbours, which on a binary volume is exactly I_contour's definition
    (:func:`cellbundles.synth.instance_contour` of one object: its voxels with a face neighbour outside it or the
    volume's edge).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.losses import DiceLoss

__all__ = ["ContourRegularisedLoss", "SegShapeLoss", "edge_map"]


def edge_map(probabilities: torch.Tensor) -> torch.Tensor:
    """``p - erosion(p)``: the erosion is the minimum over each voxel and its ``2 x spatial_dims`` face neighbours,
    outside the volume counting as 0.

    Args:
        probabilities: ``(B, C, *spatial)`` values in ``[0, 1]``.

    Returns:
        tensor of the same shape, in ``[0, 1]``: 1 on the boundary voxels of a binary volume, 0 elsewhere.
    """
    spatial_dims = probabilities.ndim - 2
    padded = F.pad(probabilities, [1, 1] * spatial_dims, value=0.0)
    eroded = probabilities
    for axis in range(2, probabilities.ndim):
        for start in (0, 2):
            neighbour = padded.narrow(axis, start, probabilities.shape[axis])
            for other in range(2, probabilities.ndim):
                if other != axis:
                    neighbour = neighbour.narrow(other, 1, probabilities.shape[other])
            eroded = torch.minimum(eroded, neighbour)
    return probabilities - eroded


class ContourRegularisedLoss(nn.Module):
    """``bce_weight * BCE(logits, target) + dice_weight * Dice(sigmoid(logits), target)
    + contour_weight * MSE(contour, edge_map(sigmoid(logits)))`` (module docstring).

    The BCE and the MSE are means over all voxels; the Dice is MONAI's soft Dice of the sigmoid (``smooth_nr =
    smooth_dr = 1e-5``), averaged over the batch. Targets may be soft (the shape marker / 255).

    Args:
        bce_weight, dice_weight, contour_weight: weights of the three terms (the seed: 1 each, not stated).
    """

    def __init__(self, bce_weight: float = 1.0, dice_weight: float = 1.0, contour_weight: float = 1.0) -> None:
        super().__init__()
        self.weights = (float(bce_weight), float(dice_weight), float(contour_weight))
        self.dice = DiceLoss(sigmoid=True)

    def components(self, logits: torch.Tensor, target: torch.Tensor, contour: torch.Tensor) -> dict[str, torch.Tensor]:
        """The three unweighted terms: ``bce``, ``dice``, ``contour``."""
        if logits.shape != target.shape or logits.shape != contour.shape:
            raise ValueError(f"logits {tuple(logits.shape)}, target {tuple(target.shape)} and contour "
                             f"{tuple(contour.shape)} must have the same shape.")  # fmt: skip
        target, contour = target.to(logits.dtype), contour.to(logits.dtype)
        return {
            "bce": F.binary_cross_entropy_with_logits(logits, target),
            "dice": self.dice(logits, target),
            "contour": F.mse_loss(edge_map(torch.sigmoid(logits)), contour),
        }

    def forward(self, logits: torch.Tensor, target: torch.Tensor, contour: torch.Tensor) -> torch.Tensor:
        terms = self.components(logits, target, contour)
        return sum(weight * term for weight, term in zip(self.weights, terms.values()))


class SegShapeLoss(nn.Module):
    """The loss of :class:`cellbundles.networks.SegShapeNet`: :class:`ContourRegularisedLoss` of M1 (channel 0)
    against the nucleus mask plus the same loss of M2 (channel 1) against the shape marker scaled to ``[0, 1]``,
    both with I_contour (the seed trains M1 and M2 with the same loss; here both in one step, their parameters are
    disjoint).

    Args:
        mask_key, shape_key, contour_key: keys of the ``(B, 1, *spatial)`` targets in the target dictionary
            (:class:`cellbundles.engines.PrepareBatchTargetDict`).
        shape_weight: weight of M2's loss.
        kwargs: term weights of :class:`ContourRegularisedLoss`.
    """

    def __init__(
        self,
        mask_key: str = "label_binary",
        shape_key: str = "shapemarker",
        contour_key: str = "contour",
        shape_weight: float = 1.0,
        **kwargs: float,
    ) -> None:
        super().__init__()
        self.keys = (mask_key, shape_key, contour_key)
        self.shape_weight = float(shape_weight)
        self.loss = ContourRegularisedLoss(**kwargs)

    def forward(self, input: torch.Tensor, target: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if input.shape[1] != 2:
            raise ValueError(f"SegShapeLoss: expected 2 channels (M1, M2), got {input.shape[1]}.")
        missing = [key for key in self.keys if key not in target]
        if missing:
            raise KeyError(f"SegShapeLoss: targets {missing} missing from the batch.")
        mask, shape, contour = (target[key] for key in self.keys)
        return self.loss(input[:, :1], mask, contour) + self.shape_weight * self.loss(input[:, 1:], shape, contour)
