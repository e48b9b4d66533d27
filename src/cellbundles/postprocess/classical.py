"""Classical nucleus instances: threshold + distance-transform seeded watershed, scaled by the nucleus diameter.

The baseline beside every learned pipeline (docs/design.md, "Generalisation"), with every length taken from one
nucleus diameter ``d`` (given, or :func:`cellbundles.postprocess.estimate_nucleus_diameter`):

1. Gaussian smoothing of ``0.1 d`` (micrometres, so anisotropic in voxels);
2. foreground: above the Otsu threshold (Otsu, IEEE Trans. SMC 9, 1979) of the smoothed image, or
   (``"local"``, for uneven illumination) of the smoothed image minus its Gaussian blur of ``2 d``;
   holes filled; components under a quarter of a ball of diameter ``d`` removed;
3. seeds: local maxima of the Euclidean distance transform (micrometres, smoothed by ``0.1 d``) that are at
   least ``d / 8`` deep, at least ``d / 2`` apart (:func:`cellbundles.postprocess.find_density_peaks`);
4. instances: the mask flooded from the seeds on the negated distance transform
   (:func:`cellbundles.postprocess.seeded_watershed`), a seedless component keeping its own label.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from cellbundles.utils import spacing_array, to_numpy

from .peaks import find_density_peaks
from .semantic import remove_small_instances
from .watershed import seeded_watershed

__all__ = ["THRESHOLD_METHODS", "classical_instances"]

THRESHOLD_METHODS = ("otsu", "local")

_SEED_DEPTH = 0.125  # seeds: distance-transform maxima at least d / 8 deep
_SEED_DISTANCE = 0.5  # and d / 2 apart


def _foreground(smoothed: np.ndarray, sigma_voxels: np.ndarray, threshold: str) -> np.ndarray:
    """Boolean foreground of the smoothed image (module docstring, step 2, before hole filling)."""
    if smoothed.max() <= smoothed.min():
        return np.zeros(smoothed.shape, dtype=bool)
    if threshold == "local":
        smoothed = smoothed - ndimage.gaussian_filter(smoothed, sigma_voxels, mode="nearest")
    return smoothed > threshold_otsu(smoothed)


def classical_instances(
    image: np.ndarray,
    spacing: Sequence[float] | float | None,
    diameter_um: float,
    threshold: str = "otsu",
    min_size_fraction: float = 0.25,
) -> np.ndarray:
    """Instance labels of bright nuclei by threshold + seeded watershed (module docstring).

    Args:
        image: ``(Z, Y, X)`` or ``(Y, X)`` intensities, no channel axis.
        spacing: voxel size per axis in micrometres, array order; None: 1.
        diameter_um: typical nucleus diameter in micrometres.
        threshold: ``"otsu"`` (global) or ``"local"``.
        min_size_fraction: components smaller than this fraction of a ball (disc) of ``diameter_um``
            are removed.

    Returns:
        int32 instance labels ``1..N`` of the shape of ``image``, 0 background.
    """
    image = to_numpy(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be a 2D or 3D array without channel axis, got shape {image.shape}.")
    if threshold not in THRESHOLD_METHODS:
        raise ValueError(f"threshold must be one of {THRESHOLD_METHODS}, got {threshold!r}.")
    if not (np.isfinite(diameter_um) and diameter_um > 0):
        raise ValueError(f"diameter_um must be a positive number, got {diameter_um}.")
    spacing = spacing_array(spacing, image.ndim)
    image = image.astype(np.float32)
    if not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or Inf.")

    smoothed = ndimage.gaussian_filter(image, 0.1 * diameter_um / spacing, mode="nearest")
    mask = ndimage.binary_fill_holes(_foreground(smoothed, 2.0 * diameter_um / spacing, threshold))
    ball = np.pi / 6.0 * diameter_um**3 if image.ndim == 3 else np.pi / 4.0 * diameter_um**2
    min_voxels = int(min_size_fraction * ball / np.prod(spacing))
    mask = remove_small_instances(ndimage.label(mask)[0], min_voxels, relabel=False) > 0
    if not mask.any():
        return np.zeros(image.shape, dtype=np.int32)

    distance = ndimage.distance_transform_edt(mask, sampling=spacing).astype(np.float32)
    relief = ndimage.gaussian_filter(distance, 0.1 * diameter_um / spacing, mode="constant")
    depth, distance_um = diameter_um * _SEED_DEPTH, diameter_um * _SEED_DISTANCE
    seeds, _ = find_density_peaks(np.where(mask, relief, 0.0), depth, distance_um, spacing)
    labels = seeded_watershed(mask, seeds, spacing=spacing, unseeded="label")
    return remove_small_instances(labels, min_voxels)
