"""Nucleus centroids and counts from a predicted density map (seed 000, sections 2 and 3.3)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.spatial import cKDTree

from cellbundles.utils import spacing_array, to_numpy

__all__ = ["BatchDensityPeaks", "count_from_density", "find_density_peaks"]


def _suppress_close(points: np.ndarray, min_distance: float) -> np.ndarray:
    """Greedy selection in the given (priority) order so that no two kept points are closer than ``min_distance``."""
    keep = np.ones(len(points), dtype=bool)
    if len(points) < 2 or min_distance <= 0:
        return keep
    pairs = cKDTree(points).query_pairs(np.nextafter(min_distance, 0.0), output_type="ndarray")
    if len(pairs) == 0:
        return keep
    neighbours = coo_matrix((np.ones(len(pairs), dtype=bool), (pairs[:, 0], pairs[:, 1])), shape=(len(points),) * 2)
    neighbours = neighbours.tocsr()
    for index in np.unique(pairs[:, 0]):
        if keep[index]:
            keep[neighbours.indices[neighbours.indptr[index] : neighbours.indptr[index + 1]]] = False
    return keep


def find_density_peaks(
    density: np.ndarray,
    threshold: float,
    min_distance_um: float,
    spacing: Sequence[float] | float | None = None,
    region: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of a density map above ``threshold``, at least ``min_distance_um`` apart.

    Candidates are voxels equal to the maximum of their ``3x3(x3)`` neighbourhood and strictly above
    ``threshold``; they are then visited by decreasing value and every candidate closer than
    ``min_distance_um`` (Euclidean distance in physical units, so the minimum distance is anisotropic
    in voxels) to a kept peak is dropped. This is exact and costs a linear filter plus a k-d tree
    query on the candidates, whatever the minimum distance. Plateaus keep one voxel.

    Args:
        density: ``([D,] H, W)`` density map (no channel axis), numpy array or torch tensor.
        threshold: minimum peak value (exclusive).
        min_distance_um: minimum distance between peaks in the units of ``spacing``.
        spacing: voxel spacing per axis in array order; None: voxel units.
        region: optional boolean mask of the same shape: of the separated peaks, only those inside it are
            kept (``nuclei_segdet_3d`` keeps the maxima of its distance map only where its density marks a
            nucleus centre too). A peak outside it still suppresses its neighbours.

    Returns:
        ``(coords, values)``: ``(N, D)`` int64 voxel coordinates and ``(N,)`` float64 peak values,
        by decreasing value.
    """
    density = to_numpy(density).astype(np.float64, copy=False)
    if density.ndim not in (2, 3):
        raise ValueError(f"density must be a 2D or 3D array without channel axis, got shape {density.shape}.")
    if not np.all(np.isfinite(density)):
        raise ValueError("density contains NaN or Inf.")
    scale = spacing_array(spacing, density.ndim)
    local_max = density >= ndimage.maximum_filter(density, size=3, mode="nearest")
    candidates = local_max & (density > threshold)
    coords = np.argwhere(candidates)
    values = density[candidates]
    order = np.argsort(-values, kind="stable")
    coords, values = coords[order], values[order]
    keep = _suppress_close(coords * scale, float(min_distance_um))
    if region is not None:
        region = to_numpy(region).astype(bool)
        if region.shape != density.shape:
            raise ValueError(f"region shape {region.shape} differs from density shape {density.shape}.")
        keep &= region[tuple(coords.T)]
    return coords[keep].astype(np.int64), values[keep]


def count_from_density(density: np.ndarray, region: np.ndarray | None = None) -> float:
    """Number of nuclei estimated as the integral (sum) of a density map (seed 000, section 2).

    Args:
        density: density map of any shape.
        region: optional boolean mask of the same shape: integrate only there (e.g. the segmented
            nuclei), which keeps a small positive background level of the density out of the count.
    """
    density = to_numpy(density)
    if region is not None:
        region = to_numpy(region).astype(bool)
        if region.shape != density.shape:
            raise ValueError(f"region shape {region.shape} differs from density shape {density.shape}.")
        density = density[region]
    return float(np.sum(density, dtype=np.float64))


class BatchDensityPeaks:
    """Peak coordinates of every density map of a batched network output.

    Meant as the ``pass_transform`` of :class:`cellbundles.engines.MCDropoutInferer`, so that each
    Monte-Carlo pass keeps only its peak list instead of a full-volume density map.

    Args:
        threshold: see :func:`find_density_peaks`.
        min_distance_um: see :func:`find_density_peaks`.
        spacing: see :func:`find_density_peaks`.
        channel: index of the density channel in the output (``SegDetNet``: the last, -1).
    """

    def __init__(
        self,
        threshold: float,
        min_distance_um: float,
        spacing: Sequence[float] | float | None = None,
        channel: int = -1,
    ) -> None:
        self.threshold = threshold
        self.min_distance_um = min_distance_um
        self.spacing = spacing
        self.channel = channel

    def __call__(self, output: object) -> list[np.ndarray]:
        """
        Args:
            output: ``(B, C, [D,] H, W)`` network output (numpy array or torch tensor).

        Returns:
            ``B`` arrays of ``(N_b, D)`` peak coordinates.
        """
        array = to_numpy(output)
        return [
            find_density_peaks(item[self.channel], self.threshold, self.min_distance_um, self.spacing)[0]
            for item in array
        ]
