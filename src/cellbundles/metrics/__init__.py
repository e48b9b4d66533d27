"""Evaluation protocols as numpy functions, MONAI metrics and Ignite handlers (docs/design.md, "Evaluation protocols").

The plain functions work on numpy label images (2D or 3D, 0 is background, ids need not be
consecutive) and import neither torch nor MONAI. The ``Cumulative`` metrics
(:mod:`cellbundles.metrics.monai_metrics`) and Ignite handlers
(:mod:`cellbundles.metrics.ignite_handlers`) are loaded on first access, e.g.
``cellbundles.metrics.InstanceMatching``.
"""

from __future__ import annotations

import importlib
from typing import Any

from cellbundles.metrics.average_precision import AveragePrecisionResult, coco_ap, voc_ap_per_image
from cellbundles.metrics.centroids import CentroidMatchingResult, instance_centroids, match_centroids
from cellbundles.metrics.contingency import LabelOverlap, label_overlap
from cellbundles.metrics.ctc import DetectionErrors, ctc_det, ctc_detection_errors, ctc_seg
from cellbundles.metrics.matching import (
    MatchingResult,
    dsb_score,
    match_instances,
    match_instances_dataset,
    object_overlap_prf,
)
from cellbundles.metrics.segmentation import HausdorffResult, dice, hausdorff, pixel_scores, rand_error

_LAZY = {
    "monai_metrics": (
        "AveragePrecisionMetric",
        "CTCDetMetric",
        "CTCSegMetric",
        "CentroidDetectionMetric",
        "DSBScoreMetric",
        "DiceScoreMetric",
        "HausdorffMetric",
        "InstanceMatchingMetric",
        "LabelImageMetric",
        "ObjectOverlapMetric",
        "PixelOverlapMetric",
        "RandErrorMetric",
    ),
    "ignite_handlers": (
        "AveragePrecision",
        "CTCDet",
        "CTCSeg",
        "CentroidDetection",
        "DSBScore",
        "DiceScore",
        "Hausdorff",
        "InstanceMatching",
        "ObjectOverlap",
        "PixelOverlap",
        "RandError",
    ),
}
_LAZY_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    "AveragePrecisionResult",
    "CentroidMatchingResult",
    "DetectionErrors",
    "HausdorffResult",
    "LabelOverlap",
    "MatchingResult",
    "coco_ap",
    "ctc_det",
    "ctc_detection_errors",
    "ctc_seg",
    "dice",
    "dsb_score",
    "hausdorff",
    "instance_centroids",
    "label_overlap",
    "match_centroids",
    "match_instances",
    "match_instances_dataset",
    "object_overlap_prf",
    "pixel_scores",
    "rand_error",
    "voc_ap_per_image",
    *_LAZY_MODULE_OF,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULE_OF:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY_MODULE_OF[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
