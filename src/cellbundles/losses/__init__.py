"""Loss functions of the cellbundles methods (docs/design.md, "Package layers")."""

from __future__ import annotations

from .distance import ForegroundDistanceLoss
from .maskrcnn import MASK_RCNN_LOSS_WEIGHTS, MaskRCNNLossSum, weighted_mask_loss
from .recyclegan import (
    RECYCLE_GAN_LAMBDAS,
    contour_loss,
    discriminator_loss,
    lsgan_loss,
    recurrent_loss,
    recycle_loss,
    slicewise,
)
from .segdet import SegDetLoss

__all__ = [
    "ForegroundDistanceLoss",
    "MASK_RCNN_LOSS_WEIGHTS",
    "MaskRCNNLossSum",
    "RECYCLE_GAN_LAMBDAS",
    "SegDetLoss",
    "contour_loss",
    "discriminator_loss",
    "lsgan_loss",
    "recurrent_loss",
    "recycle_loss",
    "slicewise",
    "weighted_mask_loss",
]
