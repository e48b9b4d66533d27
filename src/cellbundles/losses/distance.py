"""Loss of the foreground + normalised-distance 2D nuclei networks (our addition to seeds 002 and 003)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.losses import DiceCELoss

__all__ = ["ForegroundDistanceLoss"]


class ForegroundDistanceLoss(nn.Module):
    """Dice + cross-entropy on two foreground logits, plus a weighted mean squared error on the distance.

    ``loss = DiceCE(softmax(x[:, :2]), y[:, 0]) + distance_weight * MSE(sigmoid(x[:, 2]), y[:, 1])``, the
    first term being seed 002's loss (MONAI ``DiceCELoss``, one-hot target, softmax), the second the
    regression of the normalised distance to the nucleus boundary
    (:class:`cellbundles.transforms.InstancesToDistanceTarget`).

    Args:
        distance_weight: weight of the distance term.

    Shapes:
        input ``(B, 3, [D,] H, W)`` logits; target ``(B, 2, [D,] H, W)``: foreground class, distance in [0, 1].
    """

    def __init__(self, distance_weight: float = 1.0) -> None:
        super().__init__()
        if distance_weight < 0:
            raise ValueError(f"distance_weight must be >= 0, got {distance_weight}.")
        self.distance_weight = distance_weight
        self.dice_ce = DiceCELoss(to_onehot_y=True, softmax=True)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if input.shape[1] != 3 or target.shape[1] != 2 or input.shape[2:] != target.shape[2:]:
            raise ValueError(
                f"expected input (B, 3, ...) and target (B, 2, ...) of one spatial size, got {tuple(input.shape)} "
                f"and {tuple(target.shape)}."
            )
        segmentation = self.dice_ce(input[:, :2], target[:, :1])
        distance = F.mse_loss(torch.sigmoid(input[:, 2:]), target[:, 1:])
        return segmentation + self.distance_weight * distance
