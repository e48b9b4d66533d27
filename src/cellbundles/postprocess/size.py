"""Nucleus size of instance labels: equivalent-sphere (3D) or equivalent-disc (2D) diameters in micrometres.

The size a bundle rescales an input by (``nucleus_diameter_um``, like Cellpose's diameter) is the median
over the nuclei of these diameters; training volumes take theirs from their labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cellbundles.utils import spacing_array, to_numpy

__all__ = ["equivalent_diameters_um", "median_diameter_um"]


def equivalent_diameters_um(labels: np.ndarray, spacing: Sequence[float] | float | None = None) -> np.ndarray:
    """Diameter of the sphere (3D) or disc (2D) of each instance's volume (area).

    Args:
        labels: ``([D,] H, W)`` non-negative integer instance labels, 0 background.
        spacing: voxel size per axis in micrometres; None: voxel units.

    Returns:
        float64 array of one diameter per non-empty instance, in increasing label order.
    """
    labels = to_numpy(labels)
    if labels.ndim not in (2, 3) or not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise ValueError(f"labels must be 2D or 3D non-negative integers, got shape {labels.shape}, dtype {labels.dtype}.")
    voxel = float(np.prod(spacing_array(spacing, labels.ndim)))
    sizes = np.bincount(labels.ravel())[1:]
    volumes = sizes[sizes > 0] * voxel
    if labels.ndim == 3:
        return np.cbrt(6.0 * volumes / np.pi)
    return np.sqrt(4.0 * volumes / np.pi)


def median_diameter_um(labels: np.ndarray, spacing: Sequence[float] | float | None = None) -> float | None:
    """Median of :func:`equivalent_diameters_um`, or None for labels without an instance."""
    diameters = equivalent_diameters_um(labels, spacing)
    return float(np.median(diameters)) if diameters.size else None
