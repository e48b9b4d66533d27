"""Loss functions of the cellbundles methods (DESIGN.md section 3)."""

from __future__ import annotations

from .distance import ForegroundDistanceLoss
from .segdet import SegDetLoss

__all__ = ["ForegroundDistanceLoss", "SegDetLoss"]
