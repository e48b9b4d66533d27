"""MONAI ``Cumulative`` metrics over batches of label images, built on the plain functions of this package.

Each metric takes ``y_pred`` and ``y`` as batch-first label tensors ``(B, 1, [D,] H, W)`` (or lists
of channel-first ``(1, [D,] H, W)`` tensors, as MONAI's decollated engine outputs), computes one
row of numbers per image, buffers the rows and turns them into scores in :meth:`aggregate`.
Counting metrics (matching, detection, CTC) sum their counts over all images first, so their
scores are micro-averaged like the plain dataset functions; the others average per-image values
(:class:`HausdorffMetric` over the images with a finite distance, counting the others).
The rows stay in the buffer for ``MetricsSaver``'s per-image details.

Example (bundle config)::

    "key_metric": {"val_f1": {"_target_": "cellbundles.metrics.InstanceMatching", "thresh": 0.5,
                   "metric_name": "f1", "output_transform": "$monai.handlers.from_engine(['pred', 'label'])"}}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.metrics import CumulativeIterationMetric
from monai.utils import convert_to_numpy

from cellbundles.metrics.average_precision import AveragePrecisionResult, coco_ap, voc_ap_per_image
from cellbundles.metrics.centroids import instance_centroids, match_centroids
from cellbundles.metrics.counts import detection_scores, safe_ratio
from cellbundles.metrics.ctc import DetectionErrors, ctc_detection_errors, ctc_seg_terms
from cellbundles.metrics.matching import MatchingResult, dsb_score, match_instances, object_overlap_prf
from cellbundles.metrics.instance_iou import instance_boxes
from cellbundles.metrics.segmentation import PIXEL_SCORES, dice, hausdorff, pixel_scores, rand_error
from cellbundles.utils import spacing_from_affine

__all__ = [
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
]


class LabelImageMetric(CumulativeIterationMetric):
    """Base class: one row of numbers per image pair, aggregated into named scores.

    Subclasses define :attr:`available_names`, :meth:`_image_row` (the row of one image pair) and
    :meth:`_scores` (the scores from the rows summed over the buffered images).

    Args:
        metric_name: name of the score to report, or several names (then :meth:`aggregate`
            returns a list of tensors, in this order).
    """

    available_names: tuple[str, ...] = ()

    def __init__(self, metric_name: str | Sequence[str]) -> None:
        super().__init__()
        self.metric_name = (metric_name,) if isinstance(metric_name, str) else tuple(metric_name)
        unknown = [n for n in self.metric_name if n not in self.available_names]
        if unknown or not self.metric_name:
            raise ValueError(
                f"{type(self).__name__}: unknown metric_name {unknown or metric_name!r}, "
                f"choose from {self.available_names}."
            )

    def _image_row(self, y_true: np.ndarray, y_pred: np.ndarray) -> Sequence[float]:
        raise NotImplementedError

    def _scores(self, row_sum: np.ndarray, n_images: int) -> dict[str, float]:
        raise NotImplementedError

    def _as_items(self, data: torch.Tensor, name: str) -> list[np.ndarray]:
        """Split a ``(B, 1, *spatial)`` label tensor into numpy label images."""
        if data.ndim < 3 or data.shape[1] != 1:
            raise ValueError(
                f"{type(self).__name__}: {name} must be a label tensor (B, 1, [D,] H, W), "
                f"got shape {tuple(data.shape)}."
            )
        return list(convert_to_numpy(data[:, 0]))

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Rows of a batch, shape ``(B, n_columns)``, float64 on the device of ``y_pred`` (for DDP gathering)."""
        if y is None:
            raise ValueError(f"{type(self).__name__} needs the ground truth y.")
        preds, trues = self._as_items(y_pred, "y_pred"), self._as_items(y, "y")
        if len(preds) != len(trues):
            raise ValueError(f"{type(self).__name__}: batch sizes differ, {len(preds)} vs {len(trues)}.")
        rows = [self._image_row(t, p) for t, p in zip(trues, preds)]
        return torch.as_tensor(np.asarray(rows, dtype=np.float64).reshape(len(rows), -1), device=y_pred.device)

    def aggregate(self) -> torch.Tensor | list[torch.Tensor]:
        """Scores over every image seen since the last :meth:`reset`, as 0-d float tensors."""
        buffer = self.get_buffer()
        if not isinstance(buffer, torch.Tensor) or buffer.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}: no image has been evaluated yet.")
        rows = convert_to_numpy(buffer).astype(np.float64)
        scores = self._scores(rows.sum(axis=0), rows.shape[0])
        values = [torch.tensor(scores[name], dtype=torch.float64) for name in self.metric_name]
        return values[0] if len(values) == 1 else values


class InstanceMatchingMetric(LabelImageMetric):
    """Instance P/R/F1, accuracy and panoptic quality at a matching threshold (see ``match_instances``).

    Per image the row is ``(tp, n_true, n_pred, summed matched score)``; scores come from the sums.

    Args:
        thresh: a pair matches when its score is ``>= thresh``.
        criterion: ``"iou"`` or ``"iot"`` (intersection over the true object).
        metric_name: one or several of :attr:`available_names`.
    """

    available_names = (
        "precision",
        "recall",
        "f1",
        "accuracy",
        "mean_matched_score",
        "mean_true_score",
        "panoptic_quality",
        "tp",
        "fp",
        "fn",
    )

    def __init__(self, thresh: float = 0.5, criterion: str = "iou", metric_name: str | Sequence[str] = "f1") -> None:
        super().__init__(metric_name)
        self.thresh = thresh
        self.criterion = criterion

    def _match(self, y_true: np.ndarray, y_pred: np.ndarray) -> MatchingResult:
        return match_instances(y_true, y_pred, thresh=self.thresh, criterion=self.criterion)

    def _image_row(self, y_true: np.ndarray, y_pred: np.ndarray) -> Sequence[float]:
        result = self._match(y_true, y_pred)
        return (result.tp, result.n_true, result.n_pred, result.mean_matched_score * result.tp)

    def _scores(self, row_sum: np.ndarray, n_images: int) -> dict[str, float]:
        tp, n_true, n_pred, score_sum = row_sum
        counts = {"tp": round(tp), "n_true": round(n_true), "n_pred": round(n_pred)}
        return MatchingResult.from_counts(self.criterion, self.thresh, matched_score_sum=score_sum, **counts).to_dict()


class ObjectOverlapMetric(InstanceMatchingMetric):
    """Object-based P/R/F1 of seed 001 (see ``object_overlap_prf``), micro-averaged over images.

    Args:
        min_overlap: fraction of the true object the prediction must cover.
        min_size: predicted objects under this many voxels are removed first.
        metric_name: one or several of :attr:`available_names`.
    """

    def __init__(self, min_overlap: float = 0.5, min_size: int = 50, metric_name: str | Sequence[str] = "f1") -> None:
        super().__init__(thresh=min_overlap, criterion="iot", metric_name=metric_name)
        self.min_size = min_size

    def _match(self, y_true: np.ndarray, y_pred: np.ndarray) -> MatchingResult:
        return object_overlap_prf(y_true, y_pred, min_overlap=self.thresh, min_size=self.min_size)


class DSBScoreMetric(LabelImageMetric):
    """Kaggle DSB2018 score (see ``dsb_score``), averaged over images."""

    available_names = ("dsb_score",)

    def __init__(self, metric_name: str | Sequence[str] = "dsb_score") -> None:
        super().__init__(metric_name)

    def _image_row(self, y_true: np.ndarray, y_pred: np.ndarray) -> Sequence[float]:
        return (dsb_score(y_true, y_pred),)

    def _scores(self, row_sum: np.ndarray, n_images: int) -> dict[str, float]:
        return {"dsb_score": float(row_sum[0]) / n_images}


class RandErrorMetric(LabelImageMetric):
    """Rand error, 1 - Rand F-score (see ``rand_error``), averaged over images."""

    available_names = ("rand_error",)

    def __init__(self, metric_name: str | Sequence[str] = "rand_error") -> None:
        super().__init__(metric_name)

    def _image_row(self, y_true: np.ndarray, y_pred: np.ndarray) -> Sequence[float]:
        return (rand_error(y_true, y_pred),)

    def _scores(self, row_sum: np.ndarray, n_images: int) -> dict[str, float]:
        return {"rand_error": float(row_sum[0]) / n_images}


class DiceScoreMetric(LabelImageMetric):
    """Dice of the binary foregrounds (labels > 0, see ``dice``), averaged over images.

    Unlike MONAI's ``DiceMetric`` it takes the label images themselves, with no one-hot channels.
    """

    available_names = ("dice",)

    def __init__(self, metric_name: str | Sequence[str] = "dice") -> None:
        super().__init__(metric_name)

    def _image_row(self, y_true: np.ndarray, y_pred: np.ndarray) -> Sequence[float]:
        return (dice(y_true, y_pred),)

    def _scores(self, row_sum: np.ndarray, n_images: int) -> dict[str, float]:
        return {"dice": float(row_sum[0]) / n_images}


class PixelOverlapMetric(LabelImageMetric):
    """Pixel IoU, precision, recall and F1 of the foregrounds (see ``pixel_scores``), averaged over images.

    The per-image mean is the "mean IoU" of seeds 002 and 003.
    """

    available_names = PIXEL_SCORES

    def __init__(self, metric_name: str | Sequence[str] = "iou") -> None:
        super().__init__(metric_name)

    def _image_row(self, y_true: np.ndarray, y_pred: np.ndarray) -> Sequence[float]:
        scores = pixel_scores(y_true, y_pred)
        return tuple(scores[name] for name in PIXEL_SCORES)

    def _scores(self, row_sum: np.ndarray, n_images: int) -> dict[str, float]:
        return {name: float(value) / n_images for name, value in zip(PIXEL_SCORES, row_sum)}


class HausdorffMetric(LabelImageMetric):
    """Hausdorff distance of the binary foregrounds (labels > 0, see ``hausdorff``) in physical units.

    The distance is infinite for an image where exactly one foreground is empty. Such images are
    left out of the mean and counted instead: per image the row is ``(distance, 0)`` or, when the
    distance is infinite, ``(0, 1)``. ``"hausdorff"`` is the mean over the images with a finite
    distance (NaN when there is none), ``"n_infinite"`` the number of images left out.

    Args:
        spacing: voxel size per spatial axis (or one value for all); None means 1; ``"affine"``: the voxel size of
            the images of each call, read from ``y_pred``'s MetaTensor affine (volumes of different voxel sizes).
        percentile: None for the maximum surface distance, 95 for the 95th percentile (``hd95``).
        metric_name: ``"hausdorff"`` and/or ``"n_infinite"``.
    """

    available_names = ("hausdorff", "n_infinite")

    def __init__(
        self,
        spacing: float | Sequence[float] | str | None = None,
        percentile: int | None = None,
        metric_name: str | Sequence[str] = "hausdorff",
    ) -> None:
        super().__init__(metric_name)
        if percentile not in (None, 95):
            raise ValueError(f"{type(self).__name__}: percentile must be None (maximum) or 95, got {percentile!r}.")
        if isinstance(spacing, str) and spacing != "affine":
            raise ValueError(f"{type(self).__name__}: spacing must be numbers, None or 'affine', got {spacing!r}.")
        self.spacing = spacing
        self.percentile = percentile
        self._call_spacing = spacing

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.spacing == "affine":
            self._call_spacing = self._spacing_of(y_pred)
        return super()._compute_tensor(y_pred, y)

    def _spacing_of(self, y_pred: torch.Tensor) -> tuple[float, ...]:
        """The one voxel size of the ``(B, 1, *spatial)`` predictions, from their MetaTensor affine."""
        affine = getattr(y_pred, "affine", None)
        if affine is None:
            raise ValueError(f"{type(self).__name__}: spacing 'affine' needs y_pred as a MetaTensor with an affine.")
        size = y_pred.ndim - 1
        spacings = {spacing_from_affine(matrix) for matrix in convert_to_numpy(affine).reshape(-1, size, size)}
        if len(spacings) > 1:
            raise ValueError(
                f"{type(self).__name__}: one batch holds several voxel sizes {sorted(spacings)}; "
                "pass the images one by one."
            )
        return spacings.pop()

    def _image_row(self, y_true: np.ndarray, y_pred: np.ndarray) -> Sequence[float]:
        result = hausdorff(y_true, y_pred, spacing=self._call_spacing)
        distance = result.hd if self.percentile is None else result.hd95
        return (distance, 0.0) if np.isfinite(distance) else (0.0, 1.0)

    def _scores(self, row_sum: np.ndarray, n_images: int) -> dict[str, float]:
        distance_sum, n_infinite = row_sum
        n_finite = n_images - round(n_infinite)
        return {
            "hausdorff": float(distance_sum) / n_finite if n_finite else float("nan"),
            "n_infinite": float(n_infinite),
        }


class CTCSegMetric(LabelImageMetric):
    """Cell Tracking Challenge SEG (see ``ctc_seg``) over all reference objects of all images."""

    available_names = ("ctc_seg",)

    def __init__(self, metric_name: str | Sequence[str] = "ctc_seg") -> None:
        super().__init__(metric_name)

    def _image_row(self, y_true: np.ndarray, y_pred: np.ndarray) -> Sequence[float]:
        return ctc_seg_terms(y_true, y_pred)

    def _scores(self, row_sum: np.ndarray, n_images: int) -> dict[str, float]:
        return {"ctc_seg": safe_ratio(row_sum[0], row_sum[1])}


class CTCDetMetric(LabelImageMetric):
    """Cell Tracking Challenge DET (see ``ctc_det``) from the AOGM-D operations summed over all images.

    Args:
        w_ns, w_fn, w_fp: weights of splits, false negatives and false positives (5, 10, 1).
        metric_name: ``"ctc_det"`` and/or ``"aogm_d"``.
    """

    available_names = ("ctc_det", "aogm_d")

    def __init__(
        self, w_ns: float = 5.0, w_fn: float = 10.0, w_fp: float = 1.0, metric_name: str | Sequence[str] = "ctc_det"
    ) -> None:
        super().__init__(metric_name)
        self.weights = (w_ns, w_fn, w_fp)

    def _image_row(self, y_true: np.ndarray, y_pred: np.ndarray) -> Sequence[float]:
        errors = ctc_detection_errors(y_true, y_pred)
        return (errors.n_split, errors.n_false_negative, errors.n_false_positive, errors.n_reference)

    def _scores(self, row_sum: np.ndarray, n_images: int) -> dict[str, float]:
        errors = DetectionErrors(*(round(v) for v in row_sum))
        return {"ctc_det": errors.det(*self.weights), "aogm_d": errors.aogm_d(*self.weights)}


class CentroidDetectionMetric(LabelImageMetric):
    """Detection P/R/F1 of centroids matched within a physical radius (see ``match_centroids``).

    ``y_pred`` and ``y`` are either label tensors ``(B, 1, *spatial)``, whose objects are reduced to
    their centres of mass, or point sets ``(B, N, spatial_dims)`` in voxel coordinates (a list of
    ``(N_i, spatial_dims)`` tensors when the number of points varies). Counts are summed over images.

    Args:
        radius: largest matching distance in physical units (seed 000: 3.28 um).
        spacing: voxel size per axis (or one value); None means 1.
        spatial_dims: 2 or 3.
        metric_name: one or several of :attr:`available_names`.
    """

    available_names = ("precision", "recall", "f1", "accuracy", "tp", "fp", "fn", "mean_distance")

    def __init__(
        self,
        radius: float,
        spacing: float | Sequence[float] | None = None,
        spatial_dims: int = 3,
        metric_name: str | Sequence[str] = "f1",
    ) -> None:
        super().__init__(metric_name)
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
        self.radius = radius
        self.spacing = spacing
        self.spatial_dims = spatial_dims

    def _as_items(self, data: torch.Tensor, name: str) -> list[np.ndarray]:
        if data.ndim == self.spatial_dims + 2:
            return [instance_centroids(labels)[1] for labels in super()._as_items(data, name)]
        if data.ndim == 3 and data.shape[-1] == self.spatial_dims:
            return list(convert_to_numpy(data))
        raise ValueError(
            f"{type(self).__name__}: {name} must be label images (B, 1, *spatial) or points "
            f"(B, N, {self.spatial_dims}), got shape {tuple(data.shape)}."
        )

    def _image_row(self, y_true: np.ndarray, y_pred: np.ndarray) -> Sequence[float]:
        result = match_centroids(y_true, y_pred, radius=self.radius, spacing=self.spacing)
        return (result.tp, result.n_true, result.n_pred, float(result.distances.sum()))

    def _scores(self, row_sum: np.ndarray, n_images: int) -> dict[str, float]:
        tp, n_true, n_pred, distance_sum = row_sum
        fp, fn = n_pred - tp, n_true - tp
        return {
            **detection_scores(tp, fp, fn),
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "mean_distance": safe_ratio(distance_sum, tp),
        }


class AveragePrecisionMetric:
    """COCO or per-image VOC average precision of scored instances (see ``coco_ap`` / ``voc_ap_per_image``).

    Detections of different images differ in number, so the images are buffered as numpy arrays
    rather than in a ``Cumulative`` tensor buffer. Call it once per batch with lists of per-image
    items: ``y_pred`` instance label images ``(1, H, W)`` (``iou_type="segm"``, ids in increasing
    order match ``scores``) or boxes ``(D, 4)`` (``"bbox"``), ``scores`` ``(D,)`` and ``y`` true
    label images ``(1, H, W)`` (the true boxes are the objects' bounding boxes).

    Args:
        iou_type: ``"segm"`` or ``"bbox"``.
        protocol: ``"coco"`` (dataset-wide, 101 recall points) or ``"voc"`` (per image, averaged).
        iou_thresholds: None for COCO's 0.50:0.05:0.95; seed 004 uses 0.50:0.05:0.90.
        max_detections: highest-scoring detections kept per image.
        metric_name: ``"mean_ap"``, ``"ap50"`` or ``"ap75"``.
    """

    available_names = ("mean_ap", "ap50", "ap75")

    def __init__(
        self,
        iou_type: str = "segm",
        protocol: str = "coco",
        iou_thresholds: Sequence[float] | None = None,
        max_detections: int = 100,
        metric_name: str = "mean_ap",
    ) -> None:
        if iou_type not in ("segm", "bbox") or protocol not in ("coco", "voc") or metric_name not in self.available_names:
            raise ValueError(
                f"AveragePrecisionMetric: iou_type must be 'segm' or 'bbox', protocol 'coco' or 'voc' and metric_name "
                f"one of {self.available_names}; got {iou_type!r}, {protocol!r}, {metric_name!r}."
            )
        self.iou_type = iou_type
        self.protocol = protocol
        self.iou_thresholds = iou_thresholds
        self.max_detections = max_detections
        self.metric_name = metric_name
        self.reset()

    def reset(self) -> None:
        self.true: list[np.ndarray] = []
        self.pred: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []

    def __call__(self, y_pred: Sequence, scores: Sequence, y: Sequence) -> None:
        if not (len(y_pred) == len(scores) == len(y)):
            raise ValueError(f"AveragePrecisionMetric: got {len(y_pred)} predictions, {len(scores)} scores, {len(y)} labels.")
        for pred, score, true in zip(y_pred, scores, y):
            true_labels = convert_to_numpy(true)[0]
            pred = convert_to_numpy(pred)
            self.true.append(true_labels if self.iou_type == "segm" else instance_boxes(true_labels)[1])
            self.pred.append(pred[0] if self.iou_type == "segm" else pred.reshape(-1, 4))
            self.scores.append(convert_to_numpy(score).reshape(-1))

    def result(self) -> AveragePrecisionResult:
        """The full result over the buffered images."""
        protocol = coco_ap if self.protocol == "coco" else voc_ap_per_image
        return protocol(
            self.true, self.pred, self.scores, iou_type=self.iou_type,
            iou_thresholds=self.iou_thresholds, max_detections=self.max_detections,
        )

    def aggregate(self) -> float:
        """The ``metric_name`` score over the buffered images."""
        if not self.true:
            raise ValueError("AveragePrecisionMetric: no image has been evaluated yet.")
        return float(getattr(self.result(), self.metric_name))
