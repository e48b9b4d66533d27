"""Instance label images from scored, possibly overlapping instance masks (detector outputs)."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from cellbundles.metrics.instance_iou import mask_iou

__all__ = ["merge_view_detections", "paint_instances", "relabel_by_rank"]


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


def merge_view_detections(
    masks: sparse.csr_matrix, scores: np.ndarray, views: np.ndarray, n_views: int, iou_threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """One set of detections from the detections of several views of an image (test-time augmentation).

    The views' masks must already be mapped back to the image (e.g. flips undone). Greedily, from the highest
    score down, a detection not yet used gathers from every other view the unused detection that overlaps it most
    (mask IoU ``>= iou_threshold``). A group's score is the sum of its scores over ``n_views`` (a view that did not
    see the nucleus counts 0, so a detection seen in one view of four keeps a quarter of its score); its mask
    holds the pixels of at least half of its members' masks.

    Args:
        masks: ``(D, P)`` sparse binary masks of all views' detections over the ``P`` pixels of the image.
        scores: ``(D,)`` detection scores.
        views: ``(D,)`` view index of each detection.
        n_views: number of views.
        iou_threshold: lowest mask IoU for two detections to be the same object.

    Returns:
        ``(K, P)`` boolean masks and ``(K,)`` scores of the merged detections, in decreasing score order.
    """
    masks = sparse.csr_matrix(masks, dtype=np.int64)
    scores, views = np.asarray(scores, dtype=np.float64).reshape(-1), np.asarray(views).reshape(-1)
    if not masks.shape[0] == scores.size == views.size:
        raise ValueError(f"masks, scores and views must describe the same detections, got {masks.shape[0]}, {scores.size}, {views.size}.")
    iou = mask_iou(masks, masks)
    used = np.zeros(scores.size, dtype=bool)
    merged_masks, merged_scores = [], []
    for first in np.argsort(-scores, kind="stable"):
        if used[first]:
            continue
        members = [first]
        for view in np.unique(views[views != views[first]]):
            candidates = np.flatnonzero((views == view) & ~used & (iou[first] >= iou_threshold))
            if candidates.size:
                members.append(candidates[np.argmax(iou[first, candidates])])
        used[members] = True
        votes = np.asarray(masks[members].sum(axis=0)).ravel()
        merged_masks.append(votes >= len(members) / 2)
        merged_scores.append(scores[members].sum() / n_views)
    order = np.argsort(-np.asarray(merged_scores), kind="stable")
    stacked = np.asarray(merged_masks, dtype=bool).reshape(len(merged_masks), masks.shape[1])
    return stacked[order], np.asarray(merged_scores, dtype=np.float64)[order]
