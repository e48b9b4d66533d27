"""Loss functions of the cellbundles methods (docs/design.md, "Package layers")."""

from __future__ import annotations

from .distance import ForegroundDistanceLoss
from .segdet import SegDetLoss

__all__ = ["ForegroundDistanceLoss", "SegDetLoss"]
