"""Helpers shared by the cellbundles transforms: source names, physical spacing of channel-first images,
label, image and diameter checks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from monai.config import NdarrayOrTensor
from monai.data import MetaTensor
from monai.utils import convert_to_numpy

from cellbundles.utils import spacing_array

__all__ = ["as_instance_labels", "describe", "is_constant", "positive_diameter", "resolve_spacing", "spatial_array"]


def describe(value: object, name: str) -> str:
    """``name``, followed by the source file of ``value`` when it is a MetaTensor loaded from one."""
    source = value.meta.get("filename_or_obj") if isinstance(value, MetaTensor) else None
    return f"{name} ({source})" if source else name


def resolve_spacing(
    reference: object, spacing: Sequence[float] | float | None, spatial_dims: int, name: str = "image"
) -> np.ndarray:
    """Per-axis voxel spacing: the explicit ``spacing`` if given, else the MetaTensor's ``pixdim``
    (validated by :func:`cellbundles.utils.spacing_array`).

    Args:
        reference: the channel-first image the spacing belongs to (a ``MetaTensor`` carries it in its affine).
        spacing: explicit spacing (one value per spatial axis, or one value for all), in array axis order.
        spatial_dims: number of spatial axes.
        name: what ``reference`` is, for error messages.

    Returns:
        ``(spatial_dims,)`` float64 array.

    Raises:
        ValueError: no spacing is given and ``reference`` is not a MetaTensor, or a spacing is not positive.
    """
    if spacing is None:
        if not isinstance(reference, MetaTensor):
            raise ValueError(
                f"spacing of {describe(reference, name)} is unknown: "
                "pass `spacing` explicitly or give a MetaTensor with an affine."
            )
        spacing = convert_to_numpy(reference.pixdim)[:spatial_dims]
    return spacing_array(spacing, spatial_dims, name=f"spacing of {describe(reference, name)}")


def is_constant(image: object) -> bool:
    """Whether a non-empty array or tensor holds one value in every element (a blank image: no nucleus)."""
    values = convert_to_numpy(image)
    return bool(values.size) and bool(values.min() == values.max())


def as_instance_labels(labels: np.ndarray, name: str = "instance labels") -> np.ndarray:
    """Integer instance labels (0 background) of any shape, or a ``ValueError`` naming ``name``.

    Float arrays holding whole numbers (as image readers often return) are cast to int64.
    """
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"{name} must be integer valued (0 background).")
        labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"{name} must not be negative.")
    return labels


def spatial_array(image: NdarrayOrTensor, name: str) -> np.ndarray:
    """The spatial array of a one-channel ``(1, [D,] H, W)`` image, or a ``ValueError`` naming it."""
    if image.ndim not in (3, 4) or image.shape[0] != 1:
        raise ValueError(
            f"{describe(image, name)} must be a one-channel image (1, [D,] H, W), got shape {tuple(image.shape)}."
        )
    return convert_to_numpy(image)[0]


def positive_diameter(diameter: object, name: str) -> float:
    """``diameter`` as a positive float, or a ``ValueError`` naming ``name``."""
    try:
        value = float(diameter)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number of micrometres, got {diameter!r}.")
    return value
