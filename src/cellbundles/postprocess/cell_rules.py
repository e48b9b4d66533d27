"""Seed 004's post-processing rules for cell instances with a nucleus stain.

Reference:
    Korfhage N et al., "Detection and segmentation of morphologically complex eukaryotic cells in fluorescence
    microscopy images via feature pyramid fusion", PLoS Comput Biol 16(9): e1008179, 2020, section
    "Post-processing": (1) cells that overlap the same nucleus are merged; (2) foreground of a threshold
    segmentation not covered by any cell is, region by region (after a morphological opening, regions under a size
    threshold discarded), added to the one cell it touches, discarded when it touches several, or made a new cell;
    (3) a nucleus not completely covered by cells enlarges the cell it overlaps most, or becomes a new cell of its
    own shape.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .detections import relabel_by_rank

__all__ = ["apply_cell_rules", "cover_nuclei", "merge_cells_sharing_nuclei", "recover_foreground"]

_CROSS = ndimage.generate_binary_structure(2, 1)


def merge_cells_sharing_nuclei(cells: np.ndarray, nuclei: np.ndarray, min_overlap: float = 0.1) -> np.ndarray:
    """Rule 1: cells covering at least ``min_overlap`` of the same nucleus become one cell (the smallest id).

    Args:
        cells: ``(H, W)`` cell instance labels, 0 background.
        nuclei: ``(H, W)`` nucleus instance labels, 0 background.
        min_overlap: share of a nucleus' pixels a cell must cover to count as overlapping it.

    Returns:
        the merged labels (same dtype; merged ids disappear).
    """
    lookup = np.arange(int(cells.max()) + 1)
    for nucleus, box in enumerate(ndimage.find_objects(nuclei), start=1):
        if box is None:
            continue
        inside = nuclei[box] == nucleus
        owners, counts = np.unique(cells[box][inside], return_counts=True)
        owners = owners[(owners > 0) & (counts >= min_overlap * inside.sum())]
        if owners.size > 1:
            roots = np.unique(lookup[owners])
            lookup[np.isin(lookup, roots)] = roots.min()
    return lookup[cells].astype(cells.dtype)


def recover_foreground(
    cells: np.ndarray, foreground: np.ndarray, min_region_size: int, first_new_id: int | None = None
) -> np.ndarray:
    """Rule 2: uncovered foreground regions join the single cell they touch, or become new cells.

    Args:
        cells: ``(H, W)`` cell instance labels.
        foreground: ``(H, W)`` boolean threshold segmentation of the cell stain.
        min_region_size: regions of fewer pixels (after a ``3x3`` opening) are discarded.
        first_new_id: id of the first new cell; default ``cells.max() + 1``.

    Returns:
        labels with the recovered regions; new cells get ids from ``first_new_id`` on.
    """
    cells = cells.copy()
    uncovered = ndimage.binary_opening(np.asarray(foreground, bool) & (cells == 0), structure=np.ones((3, 3), bool))
    regions, _ = ndimage.label(uncovered)
    next_id = int(cells.max()) + 1 if first_new_id is None else first_new_id
    for region, box in enumerate(ndimage.find_objects(regions), start=1):
        grown = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
        inside = regions[grown] == region
        if inside.sum() < min_region_size:
            continue
        touched = np.unique(cells[grown][ndimage.binary_dilation(inside, _CROSS) & ~inside])
        touched = touched[touched > 0]
        if touched.size == 1:
            cells[grown][inside] = touched[0]
        elif touched.size == 0:
            cells[grown][inside] = next_id
            next_id += 1
    return cells


def cover_nuclei(cells: np.ndarray, nuclei: np.ndarray, first_new_id: int | None = None) -> np.ndarray:
    """Rule 3: the uncovered pixels of each nucleus go to the cell overlapping it most, or form a new cell.

    Returns:
        labels in which every nucleus pixel belongs to a cell; new cells get ids from ``first_new_id`` on
        (default ``cells.max() + 1``).
    """
    cells = cells.copy()
    next_id = int(cells.max()) + 1 if first_new_id is None else first_new_id
    for nucleus, box in enumerate(ndimage.find_objects(nuclei), start=1):
        if box is None:
            continue
        inside = nuclei[box] == nucleus
        owners = cells[box][inside]
        if owners.all():
            continue
        counts = np.bincount(owners)
        counts[0] = 0
        owner = int(counts.argmax()) if counts.any() else next_id
        next_id += owner == next_id
        cells[box][inside & (cells[box] == 0)] = owner
    return cells


def apply_cell_rules(
    cells: np.ndarray,
    scores: np.ndarray,
    nuclei: np.ndarray,
    foreground: np.ndarray,
    min_region_size: int = 50,
    min_overlap: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Rules 1-3 in the seed's order on ranked instances, keeping ids ranked by score.

    Args:
        cells: ``(H, W)`` instances ``1..K`` in decreasing score order (e.g. from
            :func:`~cellbundles.postprocess.relabel_by_rank`).
        scores: ``(K,)`` their scores.
        nuclei: ``(H, W)`` nucleus instances; foreground: ``(H, W)`` boolean cell-stain segmentation.
        min_region_size, min_overlap: of :func:`recover_foreground` and :func:`merge_cells_sharing_nuclei`.

    Returns:
        instances ``1..K'`` (int32) in decreasing score order and their ``(K',)`` scores: a merged cell keeps the
        best score of its parts (its smallest id); new cells score 0.
    """
    cells = np.asarray(cells).astype(np.int32)
    merged = merge_cells_sharing_nuclei(cells, np.asarray(nuclei), min_overlap)
    recovered = recover_foreground(merged, foreground, min_region_size, first_new_id=len(scores) + 1)
    ruled = cover_nuclei(recovered, np.asarray(nuclei), first_new_id=max(int(recovered.max()), len(scores)) + 1)
    all_scores = np.zeros(int(max(ruled.max(), len(scores))), dtype=np.float64)
    all_scores[: len(scores)] = scores
    return relabel_by_rank(ruled, all_scores)
