"""Checks on image and label arrays read from files, with errors that name the file and the problem."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

__all__ = ["validate_image", "validate_labels", "validate_pair", "is_color_image", "reading_errors"]

_COLOR_CHANNELS = (3, 4)


def is_color_image(array: np.ndarray, spatial_dims: int | None = None) -> bool:
    """Whether ``array`` is an RGB(A) image with a trailing channel axis.

    Args:
        array: (Y, X), (Y, X, C), (Z, Y, X) or (Z, Y, X, C) array.
        spatial_dims: 2 or 3 when known. When None, a 3D or 4D array whose last axis has 3 or 4
            entries is taken as a colour image (the convention of :func:`cellbundles.io.read_image`,
            which puts a channel axis last only for colour images). This is a guess from the shape:
            :func:`cellbundles.io.decode_image` tells it from the file instead.

    Returns:
        True when the last axis holds 3 (RGB) or 4 (RGBA) colour channels.
    """
    if array.ndim < 3 or array.shape[-1] not in _COLOR_CHANNELS:
        return False
    if spatial_dims is None:
        return array.ndim in (3, 4)
    return array.ndim == spatial_dims + 1


def validate_image(
    array: np.ndarray,
    path: str | os.PathLike | None,
    *,
    spatial_dims: int | None = None,
    rgb: bool | None = None,
    min_size: int = 1,
) -> None:
    """Check that an image array is usable: numeric, 2D or 3D (plus an optional RGB(A) axis), not empty, finite.

    Args:
        array: (Y, X), (Z, Y, X), or either with a trailing colour axis of 3 or 4 entries.
        path: the file the array comes from, quoted in the error message (None for in-memory data).
        spatial_dims: 2 or 3 to require that many spatial axes; None accepts 2D and 3D.
        rgb: whether the last axis holds colour samples; None guesses with :func:`is_color_image`.
        min_size: the fewest voxels accepted along each spatial axis.

    Raises:
        ValueError: ``"<path>: <problem>"`` for a non-numeric dtype, an unsupported number of
            dimensions, an empty array or one with fewer than ``min_size`` voxels along an axis,
            or NaN / Inf values.
    """
    where = path if path is not None else "<array>"
    if spatial_dims not in (None, 2, 3):
        raise ValueError(f"spatial_dims must be 2, 3 or None, got {spatial_dims!r}.")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ValueError(f"{where}: unsupported data type {array.dtype}; expected integer, float or boolean pixels.")
    if rgb is None:
        rgb = is_color_image(array, spatial_dims)
    elif rgb and (array.ndim == 0 or array.shape[-1] not in _COLOR_CHANNELS):
        raise ValueError(
            f"{where}: a colour image needs a last axis of 3 (RGB) or 4 (RGBA), got shape {tuple(array.shape)}."
        )
    n_spatial = array.ndim - 1 if rgb else array.ndim
    if n_spatial not in ((2, 3) if spatial_dims is None else (spatial_dims,)):
        expected = "2D or 3D" if spatial_dims is None else f"{spatial_dims}D"
        layout = {None: "(Y, X) or (Z, Y, X)", 2: "(Y, X)", 3: "(Z, Y, X)"}[spatial_dims]
        layout = f"{layout} with a trailing RGB(A) axis" if rgb else layout
        hint = " (is an axis of 2 to 4 entries a channel axis? save one channel per file)"
        hint = hint if n_spatial > 0 and min(array.shape[0], array.shape[n_spatial - 1]) in (2, 3, 4) else ""
        raise ValueError(
            f"{where}: expected a {expected} image {layout}, got an array of shape {tuple(array.shape)}{hint}."
        )
    if array.size == 0:
        raise ValueError(f"{where}: the image is empty (shape {tuple(array.shape)}).")
    if min(array.shape[:n_spatial]) < min_size:
        raise ValueError(
            f"{where}: the image is too small, shape {tuple(array.shape[:n_spatial])}; "
            f"at least {min_size} voxels are needed along each axis."
        )
    if np.issubdtype(array.dtype, np.inexact):
        finite = np.isfinite(array)
        if not finite.all():
            n_nan = int(np.isnan(array).sum())
            n_inf = int(finite.size - finite.sum()) - n_nan
            raise ValueError(f"{where}: the image holds {n_nan} NaN and {n_inf} infinite values.")


def validate_labels(array: np.ndarray, path: str | os.PathLike | None) -> None:
    """Check that an array is an instance (or semantic) label image: 2D/3D, integer values >= 0.

    Args:
        array: (Y, X) or (Z, Y, X) labels, 0 = background. Float arrays pass when every value is a
            whole number.
        path: the file the array comes from, quoted in the error message.

    Raises:
        ValueError: ``"<path>: <problem>"`` for a colour axis, an unsupported number of dimensions,
            an empty array, non-integer, non-finite or negative values.
    """
    where = path if path is not None else "<array>"
    if array.ndim not in (2, 3):
        raise ValueError(
            f"{where}: labels must be 2D (Y, X) or 3D (Z, Y, X), got an array of shape {tuple(array.shape)}."
        )
    validate_image(array, path, rgb=False)
    if np.issubdtype(array.dtype, np.inexact) and not np.array_equal(array, np.round(array)):
        raise ValueError(f"{where}: labels must hold whole numbers, found non-integer values in a {array.dtype} image.")
    if array.dtype != np.bool_ and array.min() < 0:
        raise ValueError(f"{where}: labels must be >= 0 (0 = background), found the value {array.min()}.")


def validate_pair(
    image: np.ndarray,
    labels: np.ndarray,
    image_path: str | os.PathLike | None,
    label_path: str | os.PathLike | None,
) -> None:
    """Check that an image and its labels cover the same voxels.

    Args:
        image: (Y, X) or (Z, Y, X) image, optionally with a trailing RGB(A) axis.
        labels: (Y, X) or (Z, Y, X) labels.
        image_path: the image file, quoted in the error message.
        label_path: the label file, quoted in the error message.

    Raises:
        ValueError: when the spatial shapes differ.
    """
    image_spatial = image.shape[: labels.ndim] if image.ndim == labels.ndim + 1 else image.shape
    if tuple(image_spatial) != tuple(labels.shape):
        raise ValueError(
            f"{label_path}: label shape {tuple(labels.shape)} does not match the spatial shape "
            f"{tuple(image_spatial)} of the image {image_path}."
        )


@contextmanager
def reading_errors(path: str | os.PathLike, format_name: str) -> Iterator[None]:
    """Turn whatever a decoding library raises on a damaged file into ``ValueError("<path>: cannot read ...")``.

    Use it around library calls only, so that the messages of the checks done afterwards stay as they are.
    Out-of-memory errors pass through unchanged.

    Args:
        path: the file being read.
        format_name: e.g. ``"TIFF"``, quoted in the message.
    """
    try:
        yield
    except MemoryError:
        raise
    except Exception as error:
        reason = str(error) or type(error).__name__
        raise ValueError(f"{path}: cannot read {format_name} file: {reason}") from error
