"""Sparse overlap counting between two label images (the contingency table of their instances).

Every instance metric of :mod:`cellbundles.metrics` starts from the number of voxels shared by
each pair of (true, predicted) objects. Building a dense ``n_true x n_pred`` table, or looping over
object masks, does not scale to volumes with thousands of nuclei. Here the two label images are
read in chunks along their first axis; inside a chunk, consecutive voxels that carry the same
``(true, pred)`` label pair form a run, so only the run starts are sorted and summed. The cost is a
few vectorised passes over the voxels plus a sort of the runs, and the memory is bounded by the
chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["LabelOverlap", "label_overlap", "validate_label_pair"]

#: default number of voxels read per chunk (4 Mi voxels: a 2048 x 2048 image is one chunk).
DEFAULT_CHUNK_VOXELS = 1 << 22


def validate_label_pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check that two label images can be compared and return them as numpy arrays.

    Args:
        y_true: ground-truth label image, shape ``([D,] H, W)``, 0 is background.
        y_pred: predicted label image of the same shape.

    Raises:
        ValueError: when the shapes differ, an array is empty or its dtype is not numeric.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"label images differ in shape: y_true {y_true.shape} vs y_pred {y_pred.shape}.")
    if y_true.size == 0:
        raise ValueError(f"label images are empty (shape {y_true.shape}).")
    for name, array in (("y_true", y_true), ("y_pred", y_pred)):
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise ValueError(f"{name} must hold integer labels, got dtype {array.dtype}.")
    return y_true, y_pred


def _as_integer_labels(values: np.ndarray, name: str) -> np.ndarray:
    """Check the distinct label values found in ``name`` and return them as integers."""
    if values.dtype == bool:
        return values.astype(np.int64)
    if np.issubdtype(values.dtype, np.floating):
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise ValueError(f"{name} must hold integer labels, found non-integer values.")
        values = values.astype(np.int64)
    if np.issubdtype(values.dtype, np.signedinteger) and values.size and values.min() < 0:
        raise ValueError(f"{name} must hold non-negative labels, found {values.min()}.")
    return values


def _sum_by_pair(first: np.ndarray, second: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sum ``weights`` over identical ``(first, second)`` pairs; returns the unique pairs sorted and the sums."""
    if first.size == 0:
        return first, second, weights
    order = np.lexsort((second, first))
    first, second, weights = first[order], second[order], weights[order]
    is_new = np.empty(first.size, dtype=bool)
    is_new[0] = True
    np.not_equal(first[1:], first[:-1], out=is_new[1:])
    is_new[1:] |= second[1:] != second[:-1]
    starts = np.flatnonzero(is_new)
    return first[starts], second[starts], np.add.reduceat(weights, starts)


def _runs(true_flat: np.ndarray, pred_flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encode the pair sequence of two flat arrays: labels at each run start and run lengths."""
    changes = true_flat[1:] != true_flat[:-1]
    changes |= pred_flat[1:] != pred_flat[:-1]
    starts = np.flatnonzero(changes)
    starts += 1
    starts = np.concatenate(([0], starts))
    lengths = np.diff(np.append(starts, true_flat.size))
    return true_flat[starts], pred_flat[starts], lengths


@dataclass(frozen=True)
class LabelOverlap:
    """Sparse contingency table of two label images, restricted to their objects (labels > 0).

    Attributes:
        true_ids: sorted labels of the ground-truth objects, shape ``(n_true,)``.
        pred_ids: sorted labels of the predicted objects, shape ``(n_pred,)``.
        true_sizes: voxel count of each ground-truth object, shape ``(n_true,)``.
        pred_sizes: voxel count of each predicted object, shape ``(n_pred,)``.
        true_index: for each overlapping pair, its row in ``true_ids``, shape ``(K,)``.
        pred_index: for each overlapping pair, its row in ``pred_ids``, shape ``(K,)``.
        intersections: voxels shared by each overlapping pair, shape ``(K,)``.
    """

    true_ids: np.ndarray
    pred_ids: np.ndarray
    true_sizes: np.ndarray
    pred_sizes: np.ndarray
    true_index: np.ndarray
    pred_index: np.ndarray
    intersections: np.ndarray

    @property
    def n_true(self) -> int:
        return int(self.true_ids.size)

    @property
    def n_pred(self) -> int:
        return int(self.pred_ids.size)

    @cached_property
    def iou(self) -> np.ndarray:
        """Intersection over union of each overlapping pair, shape ``(K,)``."""
        inter = self.intersections.astype(np.float64)
        union = self.true_sizes[self.true_index] + self.pred_sizes[self.pred_index] - self.intersections
        return inter / union

    @cached_property
    def iot(self) -> np.ndarray:
        """Intersection over the true object's size of each overlapping pair, shape ``(K,)``."""
        return self.intersections / self.true_sizes[self.true_index].astype(np.float64)

    def score(self, criterion: str) -> np.ndarray:
        """Overlap score of each pair: ``"iou"`` (intersection over union) or ``"iot"`` (over the true object)."""
        if criterion == "iou":
            return self.iou
        if criterion == "iot":
            return self.iot
        raise ValueError(f"unknown matching criterion {criterion!r}, expected 'iou' or 'iot'.")

    def select(self, keep_true: np.ndarray, keep_pred: np.ndarray) -> LabelOverlap:
        """Table restricted to a subset of the objects, as if the others were background.

        Args:
            keep_true: boolean mask over ``true_ids``, shape ``(n_true,)``.
            keep_pred: boolean mask over ``pred_ids``, shape ``(n_pred,)``.
        """
        new_true = np.cumsum(keep_true) - 1
        new_pred = np.cumsum(keep_pred) - 1
        keep_pair = keep_true[self.true_index] & keep_pred[self.pred_index]
        return LabelOverlap(
            true_ids=self.true_ids[keep_true],
            pred_ids=self.pred_ids[keep_pred],
            true_sizes=self.true_sizes[keep_true],
            pred_sizes=self.pred_sizes[keep_pred],
            true_index=new_true[self.true_index[keep_pair]],
            pred_index=new_pred[self.pred_index[keep_pair]],
            intersections=self.intersections[keep_pair],
        )


def label_overlap(
    y_true: np.ndarray, y_pred: np.ndarray, chunk_voxels: int = DEFAULT_CHUNK_VOXELS
) -> LabelOverlap:
    """Count the voxels shared by every pair of overlapping objects of two label images.

    Labels need not be consecutive; any integer (or integer-valued) dtype works. The arrays are
    read in slabs along the first axis so that the temporary memory stays near ``chunk_voxels``
    elements whatever the image size.

    Args:
        y_true: ground-truth label image, shape ``([D,] H, W)``, 0 is background.
        y_pred: predicted label image of the same shape.
        chunk_voxels: approximate number of voxels processed at once.

    Returns:
        the sparse overlap table (:class:`LabelOverlap`).

    Raises:
        ValueError: on a shape mismatch, non-integer or negative labels.
    """
    y_true, y_pred = validate_label_pair(y_true, y_pred)
    if y_true.ndim == 0:
        raise ValueError("label images must have at least one dimension.")
    slab = int(np.prod(y_true.shape[1:], dtype=np.int64))
    rows_per_chunk = max(1, int(chunk_voxels) // max(slab, 1))

    pair_true: list[np.ndarray] = []
    pair_pred: list[np.ndarray] = []
    pair_count: list[np.ndarray] = []
    for start in range(0, y_true.shape[0], rows_per_chunk):
        run_true, run_pred, run_length = _runs(
            y_true[start : start + rows_per_chunk].reshape(-1), y_pred[start : start + rows_per_chunk].reshape(-1)
        )
        foreground = (run_true != 0) | (run_pred != 0)
        run_true = _as_integer_labels(run_true[foreground], "y_true")
        run_pred = _as_integer_labels(run_pred[foreground], "y_pred")
        chunk_pairs = _sum_by_pair(run_true, run_pred, run_length[foreground])
        pair_true.append(chunk_pairs[0])
        pair_pred.append(chunk_pairs[1])
        pair_count.append(chunk_pairs[2])

    labels_true, labels_pred, counts = _sum_by_pair(
        np.concatenate(pair_true), np.concatenate(pair_pred), np.concatenate(pair_count).astype(np.int64)
    )
    return _table_from_pairs(labels_true, labels_pred, counts)


def _table_from_pairs(labels_true: np.ndarray, labels_pred: np.ndarray, counts: np.ndarray) -> LabelOverlap:
    """Build the table from the unique ``(true, pred)`` label pairs (background included) and their counts."""
    is_true_object = labels_true != 0
    true_ids, true_inverse = np.unique(labels_true[is_true_object], return_inverse=True)
    true_sizes = np.bincount(true_inverse.ravel(), weights=counts[is_true_object], minlength=true_ids.size)

    is_pred_object = labels_pred != 0
    pred_ids, pred_inverse = np.unique(labels_pred[is_pred_object], return_inverse=True)
    pred_sizes = np.bincount(pred_inverse.ravel(), weights=counts[is_pred_object], minlength=pred_ids.size)

    both = is_true_object & is_pred_object
    return LabelOverlap(
        true_ids=true_ids,
        pred_ids=pred_ids,
        true_sizes=true_sizes.astype(np.int64),
        pred_sizes=pred_sizes.astype(np.int64),
        true_index=np.searchsorted(true_ids, labels_true[both]),
        pred_index=np.searchsorted(pred_ids, labels_pred[both]),
        intersections=counts[both],
    )

