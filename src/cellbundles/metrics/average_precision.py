"""Average precision of scored instances: COCO (101-point, dataset-wide) and per-image VOC AP.

Two protocols, both on masks or boxes and both with up to ``max_detections`` top-scoring
detections per image:

- :func:`coco_ap` follows the COCO evaluation (Lin et al., "Microsoft COCO: Common Objects in
  Context", ECCV 2014): per image and IoU threshold, detections in decreasing score order take
  the unmatched ground-truth object of highest IoU (at least the threshold); the detections of all
  images are then ranked by score, and the precision envelope is read at 101 recall points. It
  reproduces ``pycocotools.cocoeval.COCOeval`` (one category, area range "all", no crowd regions).
- :func:`voc_ap_per_image` computes, image by image, the all-point interpolated AP (area under
  the precision envelope, Everingham et al., "The PASCAL Visual Object Classes Challenge", IJCV
  2010) with the same greedy matching, as the Mask R-CNN code used by seed 004 (feature pyramid
  fusion) evaluates, then averages over images.

Seed 004 reports AP at the IoU thresholds 0.50, 0.55, ..., 0.90 (pass ``np.linspace(0.5, 0.9, 9)``);
COCO's default is 0.50, ..., 0.95.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cellbundles.metrics.instance_iou import box_iou, mask_iou, masks_as_sparse

__all__ = ["COCO_IOU_THRESHOLDS", "COCO_RECALL_POINTS", "AveragePrecisionResult", "coco_ap", "voc_ap_per_image"]

#: COCO's IoU thresholds 0.50:0.05:0.95 (built as pycocotools builds them).
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
#: COCO's 101 recall points 0.00:0.01:1.00.
COCO_RECALL_POINTS = np.linspace(0.0, 1.0, int(np.round(1.0 / 0.01)) + 1)


@dataclass(frozen=True)
class AveragePrecisionResult:
    """Average precision per IoU threshold and its summaries.

    Attributes:
        iou_thresholds: the thresholds, shape ``(T,)``.
        ap: AP at each threshold, shape ``(T,)``; NaN when the dataset has no ground-truth object.
        mean_ap: mean of ``ap`` over the thresholds.
        ap50: AP at IoU 0.50 (NaN when 0.50 is not among the thresholds).
        ap75: AP at IoU 0.75 (NaN when 0.75 is not among the thresholds).
        n_true: ground-truth objects; n_pred: detections evaluated (after the per-image cap).
        ap_per_image: per-image AP, shape ``(n_images, T)``, for per-image protocols (else None);
            NaN for an image without ground-truth objects.
    """

    iou_thresholds: np.ndarray
    ap: np.ndarray
    mean_ap: float
    ap50: float
    ap75: float
    n_true: int
    n_pred: int
    ap_per_image: np.ndarray | None = None

    @classmethod
    def from_ap(
        cls,
        iou_thresholds: np.ndarray,
        ap: np.ndarray,
        n_true: int,
        n_pred: int,
        ap_per_image: np.ndarray | None = None,
    ) -> AveragePrecisionResult:
        """Result with the summaries (mean, AP50, AP75) derived from the per-threshold ``ap``."""
        def at(t: float) -> float:
            hit = np.flatnonzero(np.isclose(iou_thresholds, t))
            return float(ap[hit[0]]) if hit.size else float("nan")

        return cls(
            iou_thresholds=iou_thresholds,
            ap=ap,
            mean_ap=float(np.mean(ap)) if ap.size else float("nan"),
            ap50=at(0.5),
            ap75=at(0.75),
            n_true=int(n_true),
            n_pred=int(n_pred),
            ap_per_image=ap_per_image,
        )

    def to_dict(self) -> dict[str, float | int | list]:
        """Plain dictionary (e.g. for JSON), with ``ap`` keyed by threshold."""
        return {
            "mean_ap": self.mean_ap,
            "ap50": self.ap50,
            "ap75": self.ap75,
            "ap": {f"{t:.2f}": float(a) for t, a in zip(self.iou_thresholds, self.ap)},
            "n_true": self.n_true,
            "n_pred": self.n_pred,
        }


def _ranked_image(
    true_instances: np.ndarray,
    pred_instances: np.ndarray,
    scores: np.ndarray,
    iou_type: str,
    spatial_dims: int,
    max_detections: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Scores of the kept detections in decreasing order, their IoU with the true objects ``(D, G)``, and G."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if iou_type == "segm":
        true_masks = masks_as_sparse(true_instances, spatial_dims)
        pred_masks = masks_as_sparse(pred_instances, spatial_dims)
        n_pred = pred_masks.shape[0]
    elif iou_type == "bbox":
        box_width = 2 * spatial_dims
        true_boxes = np.asarray(true_instances, dtype=np.float64).reshape(-1, box_width)
        pred_boxes = np.asarray(pred_instances, dtype=np.float64).reshape(-1, box_width)
        n_pred = pred_boxes.shape[0]
    else:
        raise ValueError(f"unknown iou_type {iou_type!r}, expected 'segm' or 'bbox'.")
    if scores.size != n_pred:
        raise ValueError(f"got {scores.size} scores for {n_pred} predicted instances.")
    order = np.argsort(-scores, kind="mergesort")[:max_detections]
    if iou_type == "segm":
        ious = mask_iou(true_masks, pred_masks[order])
        n_true = true_masks.shape[0]
    else:
        ious = box_iou(true_boxes, pred_boxes[order])
        n_true = true_boxes.shape[0]
    return scores[order], ious, n_true


def _greedy_matches(ious: np.ndarray, thresh: float) -> np.ndarray:
    """Whether each detection (rows, best score first) takes a free true object with IoU >= ``thresh``.

    A detection takes the free true object of highest IoU; among equal IoUs, the last one (as
    pycocotools does). Returns a boolean array of shape ``(D,)``.
    """
    thresh = min(thresh, 1.0 - 1e-10)
    n_det, n_true = ious.shape
    matched = np.zeros(n_det, dtype=bool)
    taken = np.zeros(n_true, dtype=bool)
    for d in range(n_det if n_true else 0):
        candidate_iou = np.where(taken, -1.0, ious[d])
        best = n_true - 1 - int(np.argmax(candidate_iou[::-1]))
        if candidate_iou[best] >= thresh:
            taken[best] = matched[d] = True
    return matched


def _prepare_dataset(list_true, list_pred, list_scores, iou_type, iou_thresholds, max_detections, spatial_dims):
    if not (len(list_true) == len(list_pred) == len(list_scores)):
        raise ValueError(
            f"got {len(list_true)} ground-truth images, {len(list_pred)} predictions "
            f"and {len(list_scores)} score arrays."
        )
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
    if max_detections < 1:
        raise ValueError(f"max_detections must be positive, got {max_detections}.")
    thresholds = np.asarray(COCO_IOU_THRESHOLDS if iou_thresholds is None else iou_thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or thresholds.size == 0 or np.any((thresholds < 0) | (thresholds > 1)):
        raise ValueError(f"iou_thresholds must be a non-empty list of values in [0, 1], got {iou_thresholds}.")
    images = [
        _ranked_image(t, p, s, iou_type, spatial_dims, max_detections)
        for t, p, s in zip(list_true, list_pred, list_scores)
    ]
    matches = [np.stack([_greedy_matches(ious, t) for t in thresholds]) for _, ious, _ in images]
    return thresholds, images, matches


def coco_ap(
    list_true: Sequence[np.ndarray],
    list_pred: Sequence[np.ndarray],
    list_scores: Sequence[np.ndarray],
    iou_type: str = "segm",
    iou_thresholds: Sequence[float] | None = None,
    max_detections: int = 100,
    spatial_dims: int = 2,
) -> AveragePrecisionResult:
    """COCO average precision of scored instances over a dataset (single category).

    Args:
        list_true: per image, the ground-truth objects: for ``iou_type="segm"`` a label image
            ``([D,] H, W)`` or a mask stack ``(G, [D,] H, W)``; for ``"bbox"`` boxes ``(G, 2 * spatial_dims)``
            as ``x1, y1, x2, y2`` (``x1, y1, z1, x2, y2, z2`` in 3D).
        list_pred: per image, the detections in the same form (``(D, ...)``); a predicted label
            image lists its instances in increasing id order.
        list_scores: per image, the confidence of each detection, shape ``(D,)``.
        iou_type: ``"segm"`` (mask IoU) or ``"bbox"`` (box IoU).
        iou_thresholds: IoU thresholds; None for COCO's 0.50:0.05:0.95.
        max_detections: the highest-scoring detections kept per image (COCO: 100).
        spatial_dims: 2 or 3.

    Returns:
        an :class:`AveragePrecisionResult`.
    """
    thresholds, images, matches = _prepare_dataset(
        list_true, list_pred, list_scores, iou_type, iou_thresholds, max_detections, spatial_dims
    )
    n_true = sum(n for _, _, n in images)
    scores = np.concatenate([s for s, _, _ in images])
    order = np.argsort(-scores, kind="mergesort")
    hits = np.concatenate(matches, axis=1)[:, order]
    ap = np.full(thresholds.size, np.nan)
    if n_true:
        true_pos = np.cumsum(hits, axis=1)
        precision = true_pos / np.arange(1, scores.size + 1)
        envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
        for t in range(thresholds.size):
            at_recall = np.searchsorted(true_pos[t] / n_true, COCO_RECALL_POINTS, side="left")
            reached = at_recall < scores.size
            ap[t] = np.sum(envelope[t, at_recall[reached]]) / COCO_RECALL_POINTS.size
    return AveragePrecisionResult.from_ap(thresholds, ap, n_true=n_true, n_pred=scores.size)


def _all_point_ap(hits: np.ndarray, n_true: int) -> float:
    """Area under the precision envelope of one ranked detection list (``hits`` in score order)."""
    true_pos = np.cumsum(hits)
    precision = np.concatenate(([0.0], true_pos / np.arange(1, hits.size + 1), [0.0]))
    recall = np.concatenate(([0.0], true_pos / n_true, [1.0]))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def voc_ap_per_image(
    list_true: Sequence[np.ndarray],
    list_pred: Sequence[np.ndarray],
    list_scores: Sequence[np.ndarray],
    iou_type: str = "segm",
    iou_thresholds: Sequence[float] | None = None,
    max_detections: int = 100,
    spatial_dims: int = 2,
) -> AveragePrecisionResult:
    """All-point VOC AP of each image, averaged over the images (the Mask R-CNN evaluation of seed 004).

    Arguments as :func:`coco_ap`. Images without ground-truth objects have an undefined AP (NaN in
    ``ap_per_image``) and are left out of the mean; ties in score keep the input order.

    Returns:
        an :class:`AveragePrecisionResult` with ``ap_per_image`` of shape ``(n_images, T)``.
    """
    thresholds, images, matches = _prepare_dataset(
        list_true, list_pred, list_scores, iou_type, iou_thresholds, max_detections, spatial_dims
    )
    per_image = np.full((len(images), thresholds.size), np.nan)
    for i, ((_, _, n_true), hits) in enumerate(zip(images, matches)):
        if n_true:
            per_image[i] = [_all_point_ap(h, n_true) for h in hits]
    scored = ~np.isnan(per_image[:, 0]) if len(images) else np.zeros(0, dtype=bool)
    ap = per_image[scored].mean(axis=0) if scored.any() else np.full(thresholds.size, np.nan)
    return AveragePrecisionResult.from_ap(
        thresholds,
        ap,
        n_true=sum(n for _, _, n in images),
        n_pred=sum(s.size for s, _, _ in images),
        ap_per_image=per_image,
    )
