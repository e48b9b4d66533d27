"""Segmentation quality of label images: Dice, pixel IoU / P / R / F1, Hausdorff distance, Rand error.

Reference:
    Seed 000 (joint 3D nuclei segmentation and detection) reports Dice, the Hausdorff distance
    and the Rand error. The Rand error is 1 - Rand F-score of Arganda-Carreras et al., "Crowdsourcing
    the creation of image segmentation algorithms for connectomics", Front. Neuroanat. 9, 2015
    (the ISBI 2012 challenge measure; equal to scikit-image's ``adapted_rand_error``).
    Seeds 002 and 003 (2D nuclei segmentation on DSB2018) report the pixel IoU (Jaccard index) of
    the foreground masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cellbundles.metrics.contingency import label_overlap, validate_label_pair
from cellbundles.utils import spacing_array

__all__ = ["PIXEL_SCORES", "HausdorffResult", "dice", "hausdorff", "pixel_scores", "rand_error"]

PIXEL_SCORES = ("iou", "precision", "recall", "f1")
"""Names of the scores :func:`pixel_scores` returns."""


def dice(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Dice coefficient 2|A∩B| / (|A| + |B|) of the foregrounds (labels > 0) of two images.

    Args:
        y_true: ground-truth label or binary image, shape ``([D,] H, W)``.
        y_pred: predicted label or binary image of the same shape.

    Returns:
        the Dice coefficient; 1.0 when both foregrounds are empty (identical images).
    """
    y_true, y_pred = validate_label_pair(y_true, y_pred)
    true_fg, pred_fg = y_true > 0, y_pred > 0
    total = int(np.count_nonzero(true_fg)) + int(np.count_nonzero(pred_fg))
    if total == 0:
        return 1.0
    return 2.0 * np.count_nonzero(true_fg & pred_fg) / total


def pixel_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Pixel IoU (Jaccard), precision, recall and F1 of the foregrounds (labels > 0) of two images.

    Args:
        y_true: ground-truth label or binary image, shape ``([D,] H, W)``.
        y_pred: predicted label or binary image of the same shape.

    Returns:
        ``{"iou", "precision", "recall", "f1"}``. A ratio whose denominator is zero is 1.0 when both
        foregrounds are empty and 0.0 otherwise (no prediction has no precision to credit).
    """
    y_true, y_pred = validate_label_pair(y_true, y_pred)
    true_fg, pred_fg = y_true > 0, y_pred > 0
    tp = int(np.count_nonzero(true_fg & pred_fg))
    n_true, n_pred = int(np.count_nonzero(true_fg)), int(np.count_nonzero(pred_fg))
    empty = 1.0 if n_true == n_pred == 0 else 0.0

    def ratio(numerator: int, denominator: int) -> float:
        return numerator / denominator if denominator else empty

    return {
        "iou": ratio(tp, n_true + n_pred - tp),
        "precision": ratio(tp, n_pred),
        "recall": ratio(tp, n_true),
        "f1": ratio(2 * tp, n_true + n_pred),
    }


@dataclass(frozen=True)
class HausdorffResult:
    """Symmetric Hausdorff distances between two surfaces, in physical units.

    Attributes:
        hd: maximum distance from a surface voxel of one mask to the other surface.
        hd95: the larger of the two directed 95th-percentile surface distances.
    """

    hd: float
    hd95: float


def _surface(mask: np.ndarray) -> np.ndarray:
    """Foreground voxels with a background face-neighbour (voxels on the image border count as surface)."""
    return mask & ~ndimage.binary_erosion(mask)


def hausdorff(
    y_true: np.ndarray, y_pred: np.ndarray, spacing: float | Sequence[float] | None = None
) -> HausdorffResult:
    """Hausdorff distance between the foregrounds (labels > 0) of two images, in physical units.

    Surfaces are the foreground voxels that touch the background through a face; distances come
    from the exact Euclidean distance transform with the voxel ``spacing``, restricted to the
    bounding box of both masks. The 95th percentile is taken per direction (true to predicted,
    predicted to true) and the larger value kept, as in MONAI's ``compute_hausdorff_distance``.

    Args:
        y_true: ground-truth label or binary image, shape ``([D,] H, W)``.
        y_pred: predicted label or binary image of the same shape.
        spacing: voxel size per axis (or one value for all); None means 1 per axis.

    Returns:
        a :class:`HausdorffResult`; distances are 0 when both masks are empty and infinite when
        exactly one is.
    """
    y_true, y_pred = validate_label_pair(y_true, y_pred)
    sampling = spacing_array(spacing, y_true.ndim)
    true_fg, pred_fg = y_true > 0, y_pred > 0
    has_true, has_pred = bool(true_fg.any()), bool(pred_fg.any())
    if not (has_true or has_pred):
        return HausdorffResult(hd=0.0, hd95=0.0)
    if not (has_true and has_pred):
        return HausdorffResult(hd=float("inf"), hd95=float("inf"))

    box = ndimage.find_objects((true_fg | pred_fg).astype(np.uint8))[0]
    crop = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(box, true_fg.shape))
    true_surface, pred_surface = _surface(true_fg[crop]), _surface(pred_fg[crop])
    to_true = ndimage.distance_transform_edt(~true_surface, sampling=sampling)[pred_surface]
    to_pred = ndimage.distance_transform_edt(~pred_surface, sampling=sampling)[true_surface]
    return HausdorffResult(
        hd=float(max(to_true.max(), to_pred.max())),
        hd95=float(max(np.percentile(to_true, 95), np.percentile(to_pred, 95))),
    )


def rand_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Rand error: 1 - Rand F-score over the voxel pairs of the ground-truth foreground.

    Rand precision is the fraction of voxel pairs grouped together by the prediction that the
    ground truth also groups together, Rand recall the converse; both count only voxels with a
    ground-truth label > 0, and the predicted background is one more segment. This equals
    ``skimage.metrics.adapted_rand_error(y_true, y_pred)[0]``; where scikit-image divides by zero
    (no pair grouped together), the ratio is taken as 1 here.

    Args:
        y_true: ground-truth label image, shape ``([D,] H, W)``.
        y_pred: predicted label image of the same shape.

    Returns:
        the Rand error in ``[0, 1]``, 0 for identical segmentations.
    """
    overlap = label_overlap(y_true, y_pred)
    inter = overlap.intersections.astype(np.int64)
    true_sizes = overlap.true_sizes.astype(np.int64)
    # voxels of each true object that the prediction leaves as background (predicted segment 0)
    missed = true_sizes - np.bincount(overlap.true_index, weights=inter, minlength=overlap.n_true).astype(np.int64)
    pred_in_true = np.bincount(overlap.pred_index, weights=inter, minlength=overlap.n_pred).astype(np.int64)

    def pairs_together(counts: np.ndarray) -> int:
        return int(np.dot(counts, counts) - counts.sum())

    together_both = pairs_together(inter) + pairs_together(missed)
    together_pred = pairs_together(pred_in_true) + pairs_together(np.array([missed.sum()]))
    together_true = pairs_together(true_sizes)
    precision = together_both / together_pred if together_pred else 1.0
    recall = together_both / together_true if together_true else 1.0
    if precision + recall == 0:
        return 1.0
    return 1.0 - 2.0 * precision * recall / (precision + recall)
