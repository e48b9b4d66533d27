"""Voxel spacing as one validated per-axis array, and numpy views of arrays or tensors.

Spacings follow the array axes, ``(z, y, x)`` in 3D and ``(y, x)`` in 2D, in micrometres wherever
the value is physical. Torch is never imported here, so plain-numpy modules (post-processing,
metrics, phantoms) can share these helpers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["spacing_array", "spacing_from_affine", "to_numpy"]


def to_numpy(array: object) -> np.ndarray:
    """A numpy view of an array or (CPU or GPU) torch tensor, without importing torch."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def spacing_array(spacing: Sequence[float] | float | None, spatial_dims: int, name: str = "spacing") -> np.ndarray:
    """Per-axis voxel spacing as a ``(spatial_dims,)`` float64 array.

    Args:
        spacing: one value per spatial axis, or one value for all axes; None means voxel units (all ones).
        spatial_dims: number of spatial axes.
        name: what ``spacing`` is, for the error message.

    Raises:
        ValueError: ``spacing`` holds neither 1 nor ``spatial_dims`` values, or a value that is not
            finite and positive.
    """
    values = np.ravel(np.asarray(1.0 if spacing is None else spacing, dtype=np.float64))
    if values.size not in (1, spatial_dims) or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"{name} must hold 1 or {spatial_dims} positive values, got {np.ravel(spacing).tolist()}.")
    return np.broadcast_to(values, (spatial_dims,)).copy()


def spacing_from_affine(affine: np.ndarray) -> tuple[float, ...]:
    """Voxel size per array axis: the column norms of the affine's linear part (MONAI's ``affine_to_spacing``,
    which would import torch)."""
    affine = np.asarray(affine, dtype=np.float64)
    spatial_dims = affine.shape[0] - 1
    return tuple(float(v) for v in np.linalg.norm(affine[:spatial_dims, :spatial_dims], axis=0))
