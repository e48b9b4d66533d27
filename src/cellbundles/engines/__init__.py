"""Engines and inferers MONAI lacks (DESIGN.md section 3)."""

from __future__ import annotations

from .mc_dropout import MCDropoutInferer
from .prepare_batch import PrepareBatchTargetDict

__all__ = ["MCDropoutInferer", "PrepareBatchTargetDict"]
