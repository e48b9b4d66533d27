"""NIfTI-1 files (``.nii``, ``.nii.gz``) in the (z, y, x) array convention of cellbundles.

NIfTI stores voxels in (x, y, z) order with the voxel size in the header ``pixdim`` (zooms).
:func:`read_nifti` transposes the array to (z, y, x) and reverses the zooms to match;
:func:`write_nifti` does the inverse (array transposed to (x, y, z), affine ``diag(sx, sy, sz, 1)``,
spatial unit ``micron``), so writing and reading back gives the same array and spacing.
Header units ``mm`` and ``meter`` are converted to micrometres; an ``unknown`` unit is taken as
micrometres unless every zoom is 1, which is read as "no spacing".
"""

from __future__ import annotations

import os

import numpy as np

from cellbundles.io.atomic import atomic_write
from cellbundles.io.decoded import DecodedImage
from cellbundles.io.dtypes import cast_for_format
from cellbundles.io.units import as_spacing, micrometres_per_unit
from cellbundles.io.validation import reading_errors

__all__ = ["read_nifti", "read_nifti_spacing", "write_nifti", "NIFTI_SUFFIXES"]

NIFTI_SUFFIXES = (".nii", ".nii.gz")

_NIFTI_DTYPES = (np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.float32, np.float64)


def _spatial_ndim(shape: tuple[int, ...]) -> int:
    """Number of spatial axes: NIfTI pads 2D / 3D data with trailing singleton axes."""
    ndim = len(shape)
    while ndim > 3 and shape[ndim - 1] == 1:
        ndim -= 1
    return ndim


def _header_spacing(header, ndim: int) -> tuple[float, ...] | None:
    zooms = tuple(float(zoom) for zoom in header.get_zooms()[:ndim])
    unit = header.get_xyzt_units()[0]
    if unit == "unknown":
        if all(zoom == 1.0 for zoom in zooms):
            return None
        factor = 1.0
    else:
        factor = micrometres_per_unit(unit)
    if factor is None:
        return None
    return as_spacing(zoom * factor for zoom in reversed(zooms))


def read_nifti_spacing(path: str | os.PathLike) -> tuple[float, ...] | None:
    """Read only the voxel spacing of a NIfTI file (header, no voxel data), in (z, y, x) micrometres, or None."""
    import nibabel

    with reading_errors(path, "NIfTI"):
        image = nibabel.load(os.fspath(path))
        return _header_spacing(image.header, _spatial_ndim(image.shape))


def read_nifti(path: str | os.PathLike) -> DecodedImage:
    """Read a NIfTI file as a (Z, Y, X) or (Y, X) array with its spacing.

    Args:
        path: a ``.nii`` or ``.nii.gz`` file.

    Returns:
        the array, its spacing in micrometres in (z, y, x) / (y, x) order or None, and ``rgb=False``.

    Raises:
        ValueError: for a damaged or non-NIfTI file.
    """
    import nibabel

    with reading_errors(path, "NIfTI"):
        image = nibabel.load(os.fspath(path))
        data = np.asanyarray(image.dataobj)
        ndim = _spatial_ndim(data.shape)
        spacing = _header_spacing(image.header, ndim)
    data = data.reshape(data.shape[:ndim])
    return DecodedImage(np.ascontiguousarray(np.transpose(data)), spacing, False)


def write_nifti(path: str | os.PathLike, array: np.ndarray, spacing: tuple[float, ...] | None = None) -> None:
    """Write a (Z, Y, X) or (Y, X) array as NIfTI-1, atomically (see the module docstring for the convention).

    Args:
        path: target ``.nii`` / ``.nii.gz`` file.
        array: (Z, Y, X) or (Y, X) array; bool is stored as uint8, 64-bit integers as the smallest
            NIfTI integer type that holds them.
        spacing: micrometres per axis in (z, y, x) / (y, x) order, or None (unit spacing, unit unknown).
    """
    import nibabel

    data = cast_for_format(np.asarray(array), _NIFTI_DTYPES, path, "NIfTI")
    affine = np.eye(4)
    if spacing is not None:
        affine[: data.ndim, : data.ndim] = np.diag([float(size) for size in reversed(spacing)])
    image = nibabel.Nifti1Image(np.transpose(data), affine)
    image.header.set_data_dtype(data.dtype)
    if spacing is not None:
        image.header.set_xyzt_units(xyz="micron")
    with atomic_write(path) as temporary:
        nibabel.save(image, os.fspath(temporary))
