"""Format-independent image and label reading / writing, chosen by file suffix.

Convention for every format: arrays are (Z, Y, X) or (Y, X), with a trailing channel axis only for
colour (RGB(A)) images (other multi-channel files are refused: one channel per file); spacing is a
tuple of micrometres per spatial axis in the same (z, y, x) order, or None when the file states none.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from cellbundles.io.atomic import full_suffix
from cellbundles.io.decoded import DecodedImage
from cellbundles.io.nifti import NIFTI_SUFFIXES, read_nifti, read_nifti_spacing, write_nifti
from cellbundles.io.png import PNG_SUFFIXES, read_png, write_png
from cellbundles.io.tiff import OME_TIFF_SUFFIXES, TIFF_SUFFIXES, read_tiff, read_tiff_spacing, write_tiff
from cellbundles.io.validation import is_color_image, validate_image, validate_labels

__all__ = [
    "SUPPORTED_SUFFIXES",
    "decode_image",
    "image_format",
    "image_stem",
    "is_supported_image",
    "read_image",
    "read_labels",
    "read_spacing",
    "write_image",
]

SUPPORTED_SUFFIXES = TIFF_SUFFIXES + OME_TIFF_SUFFIXES + NIFTI_SUFFIXES + PNG_SUFFIXES

_FORMAT_OF_SUFFIX = {
    **{suffix: "tiff" for suffix in TIFF_SUFFIXES + OME_TIFF_SUFFIXES},
    **{suffix: "nifti" for suffix in NIFTI_SUFFIXES},
    **{suffix: "png" for suffix in PNG_SUFFIXES},
}
_DECODERS: dict[str, Callable[[str | os.PathLike], DecodedImage]] = {
    "tiff": read_tiff,
    "nifti": read_nifti,
    "png": read_png,
}
_SPACING_READERS: dict[str, Callable[[str | os.PathLike], tuple[float, ...] | None]] = {
    "tiff": read_tiff_spacing,
    "nifti": read_nifti_spacing,
    "png": lambda path: None,
}


def image_format(path: str | os.PathLike) -> str:
    """Return ``"tiff"``, ``"nifti"`` or ``"png"`` from the file suffix (case-insensitive).

    Raises:
        ValueError: for any other suffix, listing the supported ones.
    """
    suffix = full_suffix(path).lower()
    if suffix not in _FORMAT_OF_SUFFIX:
        shown = suffix or "(no suffix)"
        raise ValueError(f"{path}: unsupported image file type {shown!r}; supported: {', '.join(SUPPORTED_SUFFIXES)}.")
    return _FORMAT_OF_SUFFIX[suffix]


def is_supported_image(path: str | os.PathLike) -> bool:
    """Whether the suffix of ``path`` is one of :data:`SUPPORTED_SUFFIXES` (case-insensitive)."""
    return full_suffix(path).lower() in _FORMAT_OF_SUFFIX


def image_stem(path: str | os.PathLike) -> str:
    """File name without its format suffix: ``a/1135.ome.tif`` -> ``1135``, ``b/x.nii.gz`` -> ``x``.

    This is the sample id of the canonical dataset layout and the ``<input stem>`` of output file names.
    """
    name = Path(path).name
    suffix = full_suffix(name)
    return name[: len(name) - len(suffix)] if suffix else name


def _existing_file(path: str | os.PathLike) -> str | os.PathLike:
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file.")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: not a file.")
    return path


def decode_image(path: str | os.PathLike) -> DecodedImage:
    """Read an image file like :func:`read_image`, also telling whether its last axis is a colour axis.

    Use this where a grey volume whose last axis happens to have 3 or 4 voxels must not be mistaken
    for a colour image (e.g. to set MONAI's ``original_channel_dim``).

    Returns:
        :class:`~cellbundles.io.decoded.DecodedImage` ``(array, spacing, rgb)``.

    Raises:
        as :func:`read_image`.
    """
    decoded = _DECODERS[image_format(_existing_file(path))](path)
    validate_image(decoded.array, path, rgb=decoded.rgb)
    return decoded


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, tuple[float, ...] | None]:
    """Read a TIFF / OME-TIFF / NIfTI / PNG image and its spacing, and check that it is usable.

    Args:
        path: image file; the format is chosen from the suffix (``.tif``, ``.tiff``, ``.ome.tif``,
            ``.ome.tiff``, ``.nii``, ``.nii.gz``, ``.png``).

    Returns:
        ``(array, spacing)``: array (Z, Y, X) or (Y, X), with a trailing channel axis only for colour
        (RGB(A)) images; spacing in micrometres per spatial axis in (z, y, x) order, or None when the
        file has none. See the module docstrings of :mod:`cellbundles.io.tiff` and
        :mod:`cellbundles.io.nifti` for where the spacing comes from.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: ``"<path>: ..."`` for an unsupported suffix, an unreadable, truncated or non-image
            file, an unsupported number of dimensions or channels, an empty image, or NaN / Inf values.
    """
    array, spacing, _ = decode_image(path)
    return array, spacing


def read_spacing(path: str | os.PathLike) -> tuple[float, ...] | None:
    """Read only the spacing of an image file from its header (no pixel data), in (z, y, x) micrometres.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: for an unsupported suffix or an unreadable file.
    """
    return _SPACING_READERS[image_format(_existing_file(path))](path)


def read_labels(path: str | os.PathLike) -> tuple[np.ndarray, tuple[float, ...] | None]:
    """Read an instance / semantic label image: (Y, X) or (Z, Y, X), integer values >= 0, 0 = background.

    Float files holding whole numbers (e.g. ImageJ 32-bit label images) are accepted and cast to the
    smallest unsigned integer type that holds them; boolean masks become uint8.

    Args:
        path: label image file (any suffix of :func:`read_image`).

    Returns:
        ``(labels, spacing)`` as for :func:`read_image`.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: ``"<path>: ..."`` for the problems of :func:`read_image`, a colour image, a number
            of dimensions other than 2 or 3, non-integer or negative values.
    """
    labels, spacing, rgb = _DECODERS[image_format(_existing_file(path))](path)
    if rgb:
        raise ValueError(f"{path}: labels must be single-channel, got a colour image of shape {tuple(labels.shape)}.")
    validate_labels(labels, path)
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.integer):
        labels = labels.astype(np.min_scalar_type(int(labels.max())))
    return labels, spacing


def write_image(
    path: str | os.PathLike, array: np.ndarray, spacing: Sequence[float] | None = None, *, rgb: bool | None = None
) -> None:
    """Write an image (or labels) atomically in the format given by the suffix, with its spacing.

    - ``.tif`` / ``.tiff``: ImageJ hyperstack (axes, unit ``micron``, z ``spacing``, x / y resolution),
      so Fiji and napari show the voxel size; ``.ome.tif`` / ``.ome.tiff``: OME-XML ``PhysicalSize*``.
      Pixels as uint8 / uint16 / float32 (float64 -> float32, bool -> uint8, wider integers losslessly).
    - ``.nii`` / ``.nii.gz``: NIfTI-1 with affine ``diag(x, y, z)`` from the spacing (see
      :mod:`cellbundles.io.nifti` for the axis convention).
    - ``.png``: 2D uint8 / uint16 grey or uint8 RGB(A); the spacing is not stored (PNG has no field for it).

    Args:
        path: target file; missing folders are created.
        array: (Z, Y, X) or (Y, X), optionally with a trailing RGB(A) axis.
        spacing: micrometres per spatial axis in (z, y, x) / (y, x) order, or None.
        rgb: whether the last axis holds RGB(A) samples; None decides from ``spacing`` when given
            (one axis more than the spacing means colour), else colour when the last axis has 3 or 4
            entries and the array is 3D or 4D.

    Raises:
        ValueError: for an unsupported suffix, an array that fails :func:`validate_image`, a spacing
            that does not match the spatial axes or is not positive, or pixels the format cannot hold.
    """
    fmt = image_format(path)
    data = np.asarray(array)
    if rgb is None:
        rgb = data.ndim == len(spacing) + 1 if spacing is not None else is_color_image(data)
    validate_image(data, path, rgb=rgb)
    n_spatial = data.ndim - 1 if rgb else data.ndim
    if spacing is not None:
        spacing = tuple(float(size) for size in spacing)
        if len(spacing) != n_spatial or not all(np.isfinite(size) and size > 0 for size in spacing):
            raise ValueError(f"{path}: spacing {spacing} must hold {n_spatial} positive values (one per spatial axis).")
    if fmt == "tiff":
        write_tiff(path, data, spacing, color=rgb)
    elif fmt == "nifti":
        if rgb:
            raise ValueError(f"{path}: colour images cannot be written as NIfTI; use .tif or .png.")
        write_nifti(path, data, spacing)
    else:
        write_png(path, data, color=rgb)
