"""Mask R-CNN losses of seed 004: the border-weighted mask loss and the weighted sum of the loss terms.

Reference:
    Korfhage N et al., "Detection and segmentation of morphologically complex eukaryotic cells in
    fluorescence microscopy images via feature pyramid fusion", PLoS Comput Biol 16(9): e1008179,
    2020, sections "Weighted segmentation loss" and "Detection and segmentation results" (both
    regression losses and the mask loss weighted by 2).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["MASK_RCNN_LOSS_WEIGHTS", "MaskRCNNLossSum", "weighted_mask_loss"]

#: Seed 004's weights of torchvision's Mask R-CNN loss terms (rpn_class, rpn_bbox, class, bbox, mask).
MASK_RCNN_LOSS_WEIGHTS = {
    "loss_objectness": 1.0,
    "loss_rpn_box_reg": 2.0,
    "loss_classifier": 1.0,
    "loss_box_reg": 2.0,
    "loss_mask": 2.0,
}


def weighted_mask_loss(mask_logits: torch.Tensor, mask_targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-pixel binary cross-entropy times a weight, averaged over all pixels of all RoIs.

    Args:
        mask_logits: ``(P, M, M)`` logits of each positive RoI's class.
        mask_targets: ``(P, M, M)`` true mask of the RoI's object, cropped and resized to the RoI (in [0, 1]).
        weights: ``(P, M, M)`` pixel weights, cropped and resized the same way.

    Returns:
        a scalar; zero (connected to the graph) when there is no RoI.
    """
    if mask_targets.numel() == 0:
        return mask_logits.sum() * 0
    bce = F.binary_cross_entropy_with_logits(mask_logits, mask_targets, reduction="none")
    return (bce * weights).mean()


class MaskRCNNLossSum(nn.Module):
    """Weighted sum of the loss dictionary a torchvision detection model returns in training mode.

    Called by MONAI's ``SupervisedTrainer`` as ``loss_function(prediction, targets)``, where the
    prediction is the model's loss dictionary; ``targets`` is not used (the model has seen them).

    Args:
        weights: loss name -> weight; every name the model returns must have one.
    """

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        super().__init__()
        self.weights = dict(MASK_RCNN_LOSS_WEIGHTS if weights is None else weights)

    def forward(self, losses: Mapping[str, torch.Tensor], targets: object = None) -> torch.Tensor:
        """``sum_k weights[k] * losses[k]``, a scalar."""
        unknown = sorted(set(losses) - set(self.weights))
        if unknown:
            raise ValueError(f"no weight for the loss terms {unknown}; weights are given for {sorted(self.weights)}.")
        return sum(self.weights[name] * value for name, value in losses.items())
