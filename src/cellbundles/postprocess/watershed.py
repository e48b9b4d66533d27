"""Instance labels from a foreground map and detected centroids (seed 000: segmentation + detection)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage.segmentation import watershed

from cellbundles.utils import spacing_array, to_numpy

__all__ = ["FLOOD_MODES", "seeded_watershed", "watershed_from_markers"]

_UNSEEDED_MODES = ("label", "drop")
FLOOD_MODES = ("mask_distance", "seed_distance")
"""Landscapes :func:`seeded_watershed` floods: the negated distance to the mask border, or the distance to the
nearest seed."""


def seeded_watershed(
    foreground: np.ndarray,
    seeds: np.ndarray,
    threshold: float = 0.5,
    spacing: Sequence[float] | float | None = None,
    unseeded: str = "label",
    flood: str = "mask_distance",
    probability: np.ndarray | None = None,
    probability_weight: float = 0.0,
) -> np.ndarray:
    """Split a foreground mask into one instance per seed with a marker-controlled watershed.

    The foreground mask (``foreground > threshold``, or the boolean array itself) is flooded from
    markers at the rounded seed positions, on the negated Euclidean distance transform of the mask
    (``flood="mask_distance"``, in physical units when ``spacing`` is given, so that touching nuclei
    split at their neck) or on the distance to the nearest seed (``"seed_distance"``: each voxel goes
    to its nearest seed within the mask, which splits masks that merge many nuclei without a neck,
    as in crowded tissue, where the mask distance has one broad maximum). With ``"seed_distance"``, a
    ``probability`` map and a ``probability_weight`` ``w``, the landscape is the distance to the nearest seed
    plus ``w * (1 - probability)``: the split between touching nuclei moves from the bisector of their seeds
    to the dip of the nucleus probability between them (the seam that a network trained with a background
    gap between touching nuclei draws). The
    instance of seed ``i`` (row ``i`` of ``seeds``) gets label ``i + 1``. A seed outside the volume
    or outside the mask makes no instance (its label is absent). Foreground connected components
    that contain no seed are handled by ``unseeded``: ``"label"`` (default) gives each one its own
    label after the seeded ones (``len(seeds) + 1, ...``), so no segmented voxel is lost;
    ``"drop"`` sets them to background, so that every instance corresponds to a detected centroid.

    Args:
        foreground: ``([D,] H, W)`` foreground probability or boolean mask (no channel axis).
        seeds: ``(N, D)`` seed coordinates in voxels, array axis order (e.g. density peaks).
        threshold: probability threshold (ignored for a boolean mask).
        spacing: voxel spacing per axis for the distance transform; None: voxel units.
        unseeded: ``"label"`` or ``"drop"``, see above.
        flood: ``"mask_distance"`` or ``"seed_distance"``, see above.
        probability: ``([D,] H, W)`` nucleus probability in [0, 1] for ``"seed_distance"``; None: distance alone.
        probability_weight: the distance (units of ``spacing``) added where the probability is 0.

    Returns:
        int32 instance labels of the shape of ``foreground``, 0 background.
    """
    if flood not in FLOOD_MODES:
        raise ValueError(f"flood must be one of {FLOOD_MODES}, got {flood!r}.")
    if probability is not None and flood != "seed_distance":
        raise ValueError(f"a probability map is used by flood='seed_distance' only, got flood={flood!r}.")
    foreground = to_numpy(foreground)
    if foreground.ndim not in (2, 3):
        raise ValueError(f"foreground must be a 2D or 3D array without channel axis, got shape {foreground.shape}.")
    mask = foreground if foreground.dtype == bool else foreground > threshold
    seeds = to_numpy(seeds).astype(np.float64).reshape(-1, foreground.ndim)
    if not np.all(np.isfinite(seeds)):
        raise ValueError("seeds contain NaN or Inf.")

    markers = np.zeros(mask.shape, dtype=np.int32)
    positions = np.rint(seeds).astype(np.int64)
    inside = np.all((positions >= 0) & (positions < np.asarray(mask.shape)), axis=1)
    ids = np.arange(1, len(seeds) + 1, dtype=np.int32)
    markers[tuple(positions[inside].T)] = ids[inside]
    relief = None
    if flood == "seed_distance":
        relief = ndimage.distance_transform_edt(markers == 0, sampling=spacing_array(spacing, mask.ndim))
        if probability is not None:
            probability = to_numpy(probability)
            if probability.shape != mask.shape:
                raise ValueError(f"probability must have the foreground's shape {mask.shape}, got {probability.shape}.")
            relief += probability_weight * (1.0 - np.clip(probability, 0.0, 1.0))
    return watershed_from_markers(mask, markers, spacing, unseeded, first_unseeded_label=len(seeds) + 1, relief=relief)


def watershed_from_markers(
    mask: np.ndarray,
    markers: np.ndarray,
    spacing: Sequence[float] | float | None = None,
    unseeded: str = "label",
    first_unseeded_label: int | None = None,
    relief: np.ndarray | None = None,
) -> np.ndarray:
    """Flood a boolean mask from labelled markers on the negated distance transform of the mask.

    The marker-controlled watershed behind :func:`seeded_watershed`, for markers that are regions
    rather than points (e.g. the connected components of a predicted nucleus-interior class): every
    mask voxel reachable from a marker inside the mask gets that marker's label; markers outside
    the mask are ignored. Mask components without a marker follow ``unseeded`` (see
    :func:`seeded_watershed`); their labels start at ``first_unseeded_label``.

    Args:
        mask: ``([D,] H, W)`` boolean foreground.
        markers: integer array of the shape of ``mask``, 0 where there is no marker.
        spacing: voxel spacing per axis for the distance transform; None: voxel units.
        unseeded: ``"label"`` or ``"drop"``.
        first_unseeded_label: label of the first unseeded component; None: one more than the
            largest marker.
        relief: the landscape to flood instead of the negated distance transform (for example a
            network's negated distance-to-boundary prediction), of the shape of ``mask``.

    Returns:
        int32 instance labels of the shape of ``mask``, 0 background.
    """
    if unseeded not in _UNSEEDED_MODES:
        raise ValueError(f"unseeded must be one of {_UNSEEDED_MODES}, got {unseeded!r}.")
    mask = np.asarray(mask, dtype=bool)
    markers = np.asarray(markers)
    if markers.shape != mask.shape:
        raise ValueError(f"markers must have the shape of the mask {mask.shape}, got {markers.shape}.")
    markers = np.where(mask, markers, 0).astype(np.int32)
    labels = np.zeros(mask.shape, dtype=np.int32)
    if markers.any():
        if relief is None:
            relief = -ndimage.distance_transform_edt(mask, sampling=spacing_array(spacing, mask.ndim))
        elif np.shape(relief) != mask.shape:
            raise ValueError(f"relief must have the shape of the mask {mask.shape}, got {np.shape(relief)}.")
        labels = watershed(relief, markers, mask=mask).astype(np.int32)
    if unseeded == "label":
        leftover, count = ndimage.label(mask & (labels == 0))
        if count:
            offset = int(markers.max()) if first_unseeded_label is None else first_unseeded_label - 1
            labels[leftover > 0] = leftover[leftover > 0] + offset
    return labels
