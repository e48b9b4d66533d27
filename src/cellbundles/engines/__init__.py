"""Engines and inferers MONAI lacks (docs/design.md, "Package layers")."""

from __future__ import annotations

from .detection import DetectionInferer, PrepareDetectionBatch, zoom_for_diameter
from .dihedral_tta import DihedralTTAInferer, dihedral_transforms
from .mc_dropout import MCDropoutInferer
from .mirror_pad import MirrorPadInferer
from .prepare_batch import PrepareBatchTargetDict
from .recyclegan import RecycleGANImageSaver, RecycleGANTrainer
from .history import TrainingHistoryHandler, read_history
from .summary import MetricsJSONHandler, OutputSummaryHandler, package_versions
from .weights import WeightsLoader

__all__ = [
    "DetectionInferer",
    "DihedralTTAInferer",
    "MCDropoutInferer",
    "MetricsJSONHandler",
    "MirrorPadInferer",
    "OutputSummaryHandler",
    "PrepareDetectionBatch",
    "PrepareBatchTargetDict",
    "RecycleGANImageSaver",
    "RecycleGANTrainer",
    "TrainingHistoryHandler",
    "WeightsLoader",
    "dihedral_transforms",
    "package_versions",
    "read_history",
    "zoom_for_diameter",
]
