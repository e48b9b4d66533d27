"""Ignite metric handlers wrapping the ``Cumulative`` metrics, for bundle ``key_metric`` / ``additional_metrics``.

Each handler is to its metric what MONAI's ``MeanDice`` is to ``DiceMetric``: attach it to an
evaluator (``output_transform`` picks ``(y_pred, y)`` from the engine output, e.g.
``monai.handlers.from_engine(["pred", "label"])``); the score lands in ``engine.state.metrics`` and,
with ``save_details``, the per-image rows in ``engine.state.metric_details`` for ``MetricsSaver``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ignite.metrics import Metric
from monai.handlers import IgniteMetricHandler

from cellbundles.metrics.monai_metrics import (
    AveragePrecisionMetric,
    CentroidDetectionMetric,
    CTCDetMetric,
    CTCSegMetric,
    DiceScoreMetric,
    DSBScoreMetric,
    HausdorffMetric,
    InstanceMatchingMetric,
    ObjectOverlapMetric,
    PixelOverlapMetric,
    RandErrorMetric,
)

__all__ = [
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
]


def _identity(x):
    return x


class InstanceMatching(IgniteMetricHandler):
    """Handler of :class:`~cellbundles.metrics.monai_metrics.InstanceMatchingMetric` (instance P/R/F1, PQ).

    Args:
        thresh, criterion, metric_name: as the metric (one name: a handler records one value).
        output_transform: maps the engine output to ``(y_pred, y)`` label tensors.
        save_details: keep the per-image rows in ``engine.state.metric_details``.
    """

    def __init__(
        self,
        thresh: float = 0.5,
        criterion: str = "iou",
        metric_name: str = "f1",
        output_transform: Callable = _identity,
        save_details: bool = True,
    ) -> None:
        metric_fn = InstanceMatchingMetric(thresh=thresh, criterion=criterion, metric_name=metric_name)
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)


class ObjectOverlap(IgniteMetricHandler):
    """Handler of :class:`~cellbundles.metrics.monai_metrics.ObjectOverlapMetric` (seed 001 object P/R/F1)."""

    def __init__(
        self,
        min_overlap: float = 0.5,
        min_size: int = 50,
        metric_name: str = "f1",
        output_transform: Callable = _identity,
        save_details: bool = True,
    ) -> None:
        metric_fn = ObjectOverlapMetric(min_overlap=min_overlap, min_size=min_size, metric_name=metric_name)
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)


class DSBScore(IgniteMetricHandler):
    """Handler of :class:`~cellbundles.metrics.monai_metrics.DSBScoreMetric` (Kaggle DSB2018 score)."""

    def __init__(self, output_transform: Callable = _identity, save_details: bool = True) -> None:
        super().__init__(metric_fn=DSBScoreMetric(), output_transform=output_transform, save_details=save_details)


class RandError(IgniteMetricHandler):
    """Handler of :class:`~cellbundles.metrics.monai_metrics.RandErrorMetric` (lower is better)."""

    def __init__(self, output_transform: Callable = _identity, save_details: bool = True) -> None:
        super().__init__(metric_fn=RandErrorMetric(), output_transform=output_transform, save_details=save_details)


class DiceScore(IgniteMetricHandler):
    """Handler of :class:`~cellbundles.metrics.monai_metrics.DiceScoreMetric` (foreground Dice of label images)."""

    def __init__(self, output_transform: Callable = _identity, save_details: bool = True) -> None:
        super().__init__(metric_fn=DiceScoreMetric(), output_transform=output_transform, save_details=save_details)


class PixelOverlap(IgniteMetricHandler):
    """Handler of :class:`~cellbundles.metrics.monai_metrics.PixelOverlapMetric` (pixel IoU / P / R / F1).

    Args:
        metric_name: ``"iou"``, ``"precision"``, ``"recall"`` or ``"f1"`` (a handler records one value).
        output_transform: maps the engine output to ``(y_pred, y)`` label or binary tensors.
        save_details: keep the per-image rows in ``engine.state.metric_details``.
    """

    def __init__(
        self, metric_name: str = "iou", output_transform: Callable = _identity, save_details: bool = True
    ) -> None:
        metric_fn = PixelOverlapMetric(metric_name=metric_name)
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)


class Hausdorff(IgniteMetricHandler):
    """Handler of :class:`~cellbundles.metrics.monai_metrics.HausdorffMetric` (physical units, lower is better).

    Args:
        spacing, percentile, metric_name: as the metric (one name: a handler records one value).
        output_transform: maps the engine output to ``(y_pred, y)`` label tensors.
        save_details: keep the per-image rows ``(distance, is_infinite)`` in ``engine.state.metric_details``.
    """

    def __init__(
        self,
        spacing: float | Sequence[float] | str | None = None,
        percentile: int | None = None,
        metric_name: str = "hausdorff",
        output_transform: Callable = _identity,
        save_details: bool = True,
    ) -> None:
        metric_fn = HausdorffMetric(spacing=spacing, percentile=percentile, metric_name=metric_name)
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)


class CTCSeg(IgniteMetricHandler):
    """Handler of :class:`~cellbundles.metrics.monai_metrics.CTCSegMetric` (Cell Tracking Challenge SEG)."""

    def __init__(self, output_transform: Callable = _identity, save_details: bool = True) -> None:
        super().__init__(metric_fn=CTCSegMetric(), output_transform=output_transform, save_details=save_details)


class CTCDet(IgniteMetricHandler):
    """Handler of :class:`~cellbundles.metrics.monai_metrics.CTCDetMetric` (Cell Tracking Challenge DET)."""

    def __init__(
        self,
        w_ns: float = 5.0,
        w_fn: float = 10.0,
        w_fp: float = 1.0,
        output_transform: Callable = _identity,
        save_details: bool = True,
    ) -> None:
        metric_fn = CTCDetMetric(w_ns=w_ns, w_fn=w_fn, w_fp=w_fp)
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)


class CentroidDetection(IgniteMetricHandler):
    """Handler of :class:`~cellbundles.metrics.monai_metrics.CentroidDetectionMetric` (detection P/R/F1)."""

    def __init__(
        self,
        radius: float,
        spacing: float | Sequence[float] | None = None,
        spatial_dims: int = 3,
        metric_name: str = "f1",
        output_transform: Callable = _identity,
        save_details: bool = True,
    ) -> None:
        metric_fn = CentroidDetectionMetric(
            radius=radius, spacing=spacing, spatial_dims=spatial_dims, metric_name=metric_name
        )
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)


class AveragePrecision(Metric):
    """Handler of :class:`~cellbundles.metrics.monai_metrics.AveragePrecisionMetric` (COCO / VOC AP).

    Per iteration ``output_transform`` gives ``(y_pred, scores, y)`` lists of per-image items, e.g.
    ``monai.handlers.from_engine(["instances", "scores", "label"])`` for mask AP or
    ``from_engine(["boxes", "box_scores", "label"])`` for box AP. The images are not gathered across
    processes: under ``torchrun`` each process scores its own share.

    Args:
        iou_type, protocol, iou_thresholds, max_detections, metric_name: as the metric.
        output_transform: maps the engine output to ``(y_pred, scores, y)``.
    """

    def __init__(
        self,
        iou_type: str = "segm",
        protocol: str = "coco",
        iou_thresholds: Sequence[float] | None = None,
        max_detections: int = 100,
        metric_name: str = "mean_ap",
        output_transform: Callable = _identity,
    ) -> None:
        self.metric_fn = AveragePrecisionMetric(
            iou_type=iou_type, protocol=protocol, iou_thresholds=iou_thresholds,
            max_detections=max_detections, metric_name=metric_name,
        )
        super().__init__(output_transform=output_transform)

    def reset(self) -> None:
        self.metric_fn.reset()

    def update(self, output: Sequence) -> None:
        self.metric_fn(*output)

    def compute(self) -> float:
        return self.metric_fn.aggregate()
