"""Instance label images from scored, possibly overlapping instance masks (detector outputs)."""

from __future__ import annotations

import numpy as np

__all__ = ["paint_instances", "relabel_by_rank"]


def paint_instances(masks: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """One label image from overlapping soft masks: where masks overlap, the highest score wins.

    Args:
        masks: ``(D, H, W)`` mask probabilities of ``D`` detections.
        scores: ``(D,)`` detection scores.
        threshold: a pixel belongs to a detection where its probability is ``>= threshold``.

    Returns:
        ``(H, W)`` int32 labels: detection ``i`` (0-based, input order) has id ``i + 1``; 0 background.
    """
    masks = np.asarray(masks)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if masks.ndim != 3 or masks.shape[0] != scores.size:
        raise ValueError(f"masks must be (D, H, W) with one score each, got {masks.shape} and {scores.size} scores.")
    labels = np.zeros(masks.shape[1:], dtype=np.int32)
    for index in np.argsort(scores, kind="stable"):
        labels[masks[index] >= threshold] = index + 1
    return labels


def relabel_by_rank(
    labels: np.ndarray, scores: np.ndarray, min_size: int = 0, min_score: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Ids ``1..K`` in decreasing score order for the painted objects of at least ``min_size`` pixels and ``min_score``.

    Removing a detection after painting gives the painting of the others, since a detection only
    holds the pixels that no higher-scoring one claimed.

    Args:
        labels: label image from :func:`paint_instances` (id ``i + 1`` is detection ``i``).
        scores: ``(D,)`` detection scores.
        min_size: smaller objects (after overlaps were resolved) are removed.
        min_score: detections scoring less are removed.

    Returns:
        the relabelled image (same shape, int32) and the ``(K,)`` scores of ids ``1..K``.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    sizes = np.bincount(np.asarray(labels).ravel(), minlength=scores.size + 1)[1:]
    kept = np.flatnonzero((sizes > 0) & (sizes >= min_size) & (scores >= min_score))
    kept = kept[np.argsort(-scores[kept], kind="stable")]
    lookup = np.zeros(scores.size + 1, dtype=np.int32)
    lookup[kept + 1] = np.arange(1, kept.size + 1, dtype=np.int32)
    return lookup[labels], scores[kept]
