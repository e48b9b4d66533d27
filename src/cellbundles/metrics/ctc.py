"""Cell Tracking Challenge segmentation (SEG) and detection (DET) measures.

A reference object R and a segmented object S match when S covers more than half of R,
``|R ∩ S| > 0.5 |R|``; each reference object thus matches at most one segmented object, while a
segmented object may match several reference objects (a merge).

- SEG: mean over reference objects of the Jaccard index ``|R ∩ S| / |R ∪ S|`` of the matching
  segmented object, 0 for an unmatched reference object.
- DET: ``1 - min(AOGM-D, AOGM-D0) / AOGM-D0``, where the detection part of the Acyclic Oriented
  Graph Matching cost AOGM-D sums weighted vertex operations: splitting a segmented object that
  matches k > 1 reference objects (k - 1 operations, weight 5), adding an unmatched reference
  object (false negative, weight 10) and deleting a segmented object that matches nothing (false
  positive, weight 1); AOGM-D0 = 10 x the number of reference objects is the cost of building
  the reference from nothing.

Both accept one label image or a sequence of frames; a sequence is scored as a whole (sums over
all frames), as the challenge scores a time-lapse.

References:
    - Matula et al., "Cell Tracking Accuracy Measurement Based on Comparison of Acyclic Oriented
      Graphs", PLoS ONE 10(12), 2015.
    - Ulman et al., "An objective comparison of cell-tracking algorithms", Nature Methods 14, 2017.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cellbundles.metrics.contingency import LabelOverlap, label_overlap
from cellbundles.metrics.counts import safe_ratio

__all__ = ["DetectionErrors", "ctc_det", "ctc_detection_errors", "ctc_seg", "ctc_seg_terms"]


def _frame_overlaps(
    y_true: np.ndarray | Sequence[np.ndarray], y_pred: np.ndarray | Sequence[np.ndarray]
) -> list[LabelOverlap]:
    """Overlap tables of one image pair or of paired frame sequences."""
    if isinstance(y_true, np.ndarray) and isinstance(y_pred, np.ndarray):
        return [label_overlap(y_true, y_pred)]
    if isinstance(y_true, np.ndarray) or isinstance(y_pred, np.ndarray) or len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred must both be label images or sequences of frames of equal length.")
    return [label_overlap(t, p) for t, p in zip(y_true, y_pred)]


def _majority_pairs(overlap: LabelOverlap) -> np.ndarray:
    """Positions of the (reference, segmented) pairs where the segmented object covers > 50 % of the reference."""
    return np.flatnonzero(2 * overlap.intersections > overlap.true_sizes[overlap.true_index])


def ctc_seg_terms(
    y_true: np.ndarray | Sequence[np.ndarray], y_pred: np.ndarray | Sequence[np.ndarray]
) -> tuple[float, int]:
    """Sum of the Jaccard indices of the reference objects and their number (SEG is their ratio).

    Args:
        y_true: reference label image ``([D,] H, W)`` or a sequence of frames.
        y_pred: segmented label image(s), paired with ``y_true``.
    """
    jaccard_sum, n_reference = 0.0, 0
    for overlap in _frame_overlaps(y_true, y_pred):
        jaccard_sum += float(overlap.iou[_majority_pairs(overlap)].sum())
        n_reference += overlap.n_true
    return jaccard_sum, n_reference


def ctc_seg(y_true: np.ndarray | Sequence[np.ndarray], y_pred: np.ndarray | Sequence[np.ndarray]) -> float:
    """Cell Tracking Challenge SEG measure.

    Args:
        y_true: reference label image ``([D,] H, W)`` or a sequence of frames.
        y_pred: segmented label image(s), paired with ``y_true``.

    Returns:
        the mean Jaccard index over all reference objects, 0 without reference objects.
    """
    return safe_ratio(*ctc_seg_terms(y_true, y_pred))


@dataclass(frozen=True)
class DetectionErrors:
    """Vertex operations of AOGM-D needed to turn a detection into the reference.

    Attributes:
        n_split: extra reference objects inside merged segmented objects (sum of k - 1).
        n_false_negative: reference objects that no segmented object covers by more than half.
        n_false_positive: segmented objects that cover no reference object by more than half.
        n_reference: number of reference objects.
    """

    n_split: int
    n_false_negative: int
    n_false_positive: int
    n_reference: int

    def aogm_d(self, w_ns: float = 5.0, w_fn: float = 10.0, w_fp: float = 1.0) -> float:
        """Weighted cost of the operations."""
        return w_ns * self.n_split + w_fn * self.n_false_negative + w_fp * self.n_false_positive

    def det(self, w_ns: float = 5.0, w_fn: float = 10.0, w_fp: float = 1.0) -> float:
        """DET = 1 - min(AOGM-D, AOGM-D0) / AOGM-D0; 0 without reference objects."""
        empty_cost = w_fn * self.n_reference
        if empty_cost <= 0:
            return 0.0
        return 1.0 - min(self.aogm_d(w_ns, w_fn, w_fp), empty_cost) / empty_cost


def ctc_detection_errors(
    y_true: np.ndarray | Sequence[np.ndarray], y_pred: np.ndarray | Sequence[np.ndarray]
) -> DetectionErrors:
    """Count the AOGM-D operations (splits, false negatives, false positives).

    Args:
        y_true: reference label image ``([D,] H, W)`` (full masks or markers) or a sequence of frames.
        y_pred: segmented label image(s), paired with ``y_true``.
    """
    n_split = n_fn = n_fp = n_reference = 0
    for overlap in _frame_overlaps(y_true, y_pred):
        matched = _majority_pairs(overlap)
        references_per_segment = np.bincount(overlap.pred_index[matched], minlength=overlap.n_pred)
        n_split += int(np.maximum(references_per_segment - 1, 0).sum())
        n_fn += overlap.n_true - matched.size
        n_fp += int(np.count_nonzero(references_per_segment == 0))
        n_reference += overlap.n_true
    return DetectionErrors(n_split=n_split, n_false_negative=n_fn, n_false_positive=n_fp, n_reference=n_reference)


def ctc_det(
    y_true: np.ndarray | Sequence[np.ndarray],
    y_pred: np.ndarray | Sequence[np.ndarray],
    w_ns: float = 5.0,
    w_fn: float = 10.0,
    w_fp: float = 1.0,
) -> float:
    """Cell Tracking Challenge DET measure, ``1 - min(AOGM-D, AOGM-D0) / AOGM-D0``.

    Args:
        y_true: reference label image ``([D,] H, W)`` or a sequence of frames.
        y_pred: segmented label image(s), paired with ``y_true``.
        w_ns: weight of a split operation (challenge value 5).
        w_fn: weight of adding a missed reference object (challenge value 10).
        w_fp: weight of deleting a spurious segmented object (challenge value 1).

    Returns:
        DET in ``[0, 1]``, 0 without reference objects.
    """
    return ctc_detection_errors(y_true, y_pred).det(w_ns, w_fn, w_fp)
