"""Detection scores of centroids: one-to-one matching within a radius in physical units.

Reference:
    Seed 000 (joint 3D nuclei segmentation and detection): each ground-truth nucleus is assigned
    to at most one predicted nucleus within 3.28 um; assigned predictions are true positives,
    the other predictions false positives and unassigned nuclei false negatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from cellbundles.metrics.assignment import max_cardinality_assignment
from cellbundles.metrics.counts import detection_scores, safe_ratio
from cellbundles.utils import spacing_array

__all__ = ["CentroidMatchingResult", "instance_centroids", "match_centroids"]


@dataclass(frozen=True)
class CentroidMatchingResult:
    """Result of :func:`match_centroids`.

    Attributes:
        tp, fp, fn: matched pairs, unmatched predictions, unmatched ground-truth points.
        precision, recall, f1, accuracy: TP/(TP+FP), TP/(TP+FN), 2TP/(2TP+FP+FN), TP/(TP+FP+FN).
        n_true, n_pred: number of points.
        mean_distance: mean physical distance of the matched pairs (0 without matches).
        true_index: rows of the matched ground-truth points, shape ``(TP,)``.
        pred_index: rows of their predicted partners, shape ``(TP,)``.
        distances: physical distance of each matched pair, shape ``(TP,)``.
    """

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    accuracy: float
    n_true: int
    n_pred: int
    mean_distance: float
    true_index: np.ndarray
    pred_index: np.ndarray
    distances: np.ndarray

    def to_dict(self) -> dict[str, float | int]:
        """The scalar fields as a plain dictionary (e.g. for JSON)."""
        return {k: v for k, v in vars(self).items() if not isinstance(v, np.ndarray)}


def _as_points(points: np.ndarray, name: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.size == 0:
        return points.reshape(0, points.shape[-1] if points.ndim == 2 else 0)
    if points.ndim != 2:
        raise ValueError(f"{name} must have shape (N, spatial_dims), got {points.shape}.")
    if not np.all(np.isfinite(points)):
        raise ValueError(f"{name} holds NaN or infinite coordinates.")
    return points


def match_centroids(
    true_zyx: np.ndarray,
    pred_zyx: np.ndarray,
    radius: float,
    spacing: float | Sequence[float] | None = None,
) -> CentroidMatchingResult:
    """Match ground-truth and predicted points one-to-one within ``radius`` (physical units).

    Coordinates are in voxels, axis order as the image (``z, y, x`` in 3D, ``y, x`` in 2D), and
    are scaled by ``spacing`` before measuring distances, so an anisotropic voxel is handled
    exactly. Pairs closer than or at ``radius`` are candidates; the assignment maximises the
    number of matches, then minimises their summed distance (exact, Hungarian algorithm).

    Args:
        true_zyx: ground-truth points, shape ``(N, spatial_dims)``.
        pred_zyx: predicted points, shape ``(M, spatial_dims)``.
        radius: largest matching distance, in the units of ``spacing`` (seed 000: 3.28 um).
        spacing: voxel size per axis (or one value for all); None means 1 per axis.

    Returns:
        a :class:`CentroidMatchingResult`.

    Raises:
        ValueError: on malformed coordinates, a spacing of the wrong length or a negative radius.
    """
    true_pts = _as_points(true_zyx, "true_zyx")
    pred_pts = _as_points(pred_zyx, "pred_zyx")
    ndim = max(true_pts.shape[1], pred_pts.shape[1])
    if true_pts.shape[0] and pred_pts.shape[0] and true_pts.shape[1] != pred_pts.shape[1]:
        raise ValueError(f"true_zyx has {true_pts.shape[1]} coordinates per point but pred_zyx {pred_pts.shape[1]}.")
    if radius < 0:
        raise ValueError(f"the matching radius must be non-negative, got {radius}.")
    scale = spacing_array(spacing, ndim)

    n_true, n_pred = true_pts.shape[0], pred_pts.shape[0]
    true_index = pred_index = np.zeros(0, dtype=np.int64)
    distances = np.zeros(0)
    if n_true and n_pred:
        near = cKDTree(true_pts * scale).sparse_distance_matrix(
            cKDTree(pred_pts * scale), max_distance=radius, output_type="ndarray"
        )
        rows, cols, dist = near["i"].astype(np.int64), near["j"].astype(np.int64), near["v"]
        chosen = max_cardinality_assignment(rows, cols, 1.0 - dist / radius if radius > 0 else np.ones_like(dist))
        true_index, pred_index, distances = rows[chosen], cols[chosen], dist[chosen]
    tp = int(true_index.size)
    fp, fn = n_pred - tp, n_true - tp
    return CentroidMatchingResult(
        tp=tp,
        fp=fp,
        fn=fn,
        **detection_scores(tp, fp, fn),
        n_true=n_true,
        n_pred=n_pred,
        mean_distance=safe_ratio(distances.sum(), tp),
        true_index=true_index,
        pred_index=pred_index,
        distances=distances,
    )


def instance_centroids(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre of mass of every object of a label image.

    Args:
        labels: label image, shape ``([D,] H, W)``, 0 is background.

    Returns:
        the sorted object ids, shape ``(N,)``, and their centroids in voxels, shape ``(N, ndim)``.
    """
    labels = np.asarray(labels)
    ids = np.unique(labels)
    ids = ids[ids != 0]
    centres = ndimage.center_of_mass(labels != 0, labels, ids) if ids.size else []
    return ids, np.asarray(centres, dtype=np.float64).reshape(ids.size, labels.ndim)
