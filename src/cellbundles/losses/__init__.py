"""Loss functions of the cellbundles methods (docs/design.md, "Package layers")."""

from __future__ import annotations

from .distance import ForegroundDistanceLoss
from .maskrcnn import MASK_RCNN_LOSS_WEIGHTS, MaskRCNNLossSum, weighted_mask_loss
from . import recyclegan
from .recyclegan import *  # noqa: F403 (the names of recyclegan.__all__, listed once there)
from .segdet import SegDetLoss
from .shape import ContourRegularisedLoss, SegShapeLoss, edge_map

__all__ = [
    "ContourRegularisedLoss",
    "ForegroundDistanceLoss",
    "MASK_RCNN_LOSS_WEIGHTS",
    "MaskRCNNLossSum",
    "SegDetLoss",
    "SegShapeLoss",
    "edge_map",
    "weighted_mask_loss",
    *recyclegan.__all__,
]
