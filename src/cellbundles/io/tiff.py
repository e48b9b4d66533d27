"""TIFF, ImageJ hyperstack and OME-TIFF files with their physical voxel size.

Arrays are (Z, Y, X) or (Y, X), with a trailing channel axis only for colour (RGB(A)) images;
spacing is in micrometres per spatial axis in the same (z, y, x) order.

Where the spacing is read from, first match wins:

- OME-TIFF: ``PhysicalSizeZ/Y/X`` of the OME-XML ``Pixels`` element, with their ``...Unit``
  attributes (default µm). A 3D image without ``PhysicalSizeZ`` has no known spacing.
- ImageJ TIFF (what Fiji writes and reads): the ``unit`` and ``spacing`` (z step) entries of the
  ImageJ description and the XResolution / YResolution tags (pixels per unit); as in ImageJ, a
  missing ``spacing`` means a z step of 1 unit. No unit, or ``pixel``, means no known spacing.
- Other TIFF: XResolution / YResolution for 2D images, only when ResolutionUnit is centimetre (or
  tifffile's millimetre / micrometre extensions). The inch unit is ignored: writers that are not
  microscopy software put a 72 or 300 dpi default there, which says nothing about the sample.
"""

from __future__ import annotations

import logging
import os
import threading
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import tifffile

from cellbundles.io.atomic import atomic_write, full_suffix
from cellbundles.io.decoded import DecodedImage
from cellbundles.io.dtypes import cast_for_format
from cellbundles.io.units import as_spacing, micrometres_per_unit
from cellbundles.io.validation import reading_errors

__all__ = ["read_tiff", "read_tiff_spacing", "write_tiff", "OME_TIFF_SUFFIXES", "TIFF_SUFFIXES"]

TIFF_SUFFIXES = (".tif", ".tiff")
OME_TIFF_SUFFIXES = (".ome.tif", ".ome.tiff")

_IMAGEJ_DTYPES = (np.uint8, np.uint16, np.float32)
_DEPTH_AXES = "ZIQ"  # z, image sequence (plain multi-page TIFF), unknown (tifffile's names)
_CHANNEL_AXES = "SC"  # samples (RGB), channels
_COLOR_CHANNELS = (3, 4)
# ResolutionUnit tag values: 3 = centimetre (TIFF 6); 4 = millimetre, 5 = micrometre (tifffile extensions).
_RESOLUTION_UNIT_MICROMETRES = {3: 1e4, 4: 1e3, 5: 1.0}


@dataclass(frozen=True)
class _AxisLayout:
    """Where the (Z, Y, X, C) axes sit in a TIFF series: source index per role, and the singleton axes to drop."""

    source_order: tuple[int, ...]
    dropped: tuple[int, ...]
    n_spatial: int
    rgb: bool


def _axis_layout(axes: str, shape: tuple[int, ...], path: str | os.PathLike) -> _AxisLayout:
    roles: dict[str, int] = {}
    dropped = []
    for index, (axis, size) in enumerate(zip(axes, shape)):
        if axis in "YX":
            role = axis
        elif axis in _CHANNEL_AXES and size in _COLOR_CHANNELS:
            role = "C"
        elif axis in _CHANNEL_AXES and size > 1:
            raise ValueError(
                f"{path}: the image has {size} channels (axes {axes}, shape {tuple(shape)}); cellbundles reads "
                "single-channel or RGB(A) images: save one channel per file."
            )
        elif size == 1:
            dropped.append(index)
            continue
        elif axis in _DEPTH_AXES:
            role = "Z"
        else:
            raise ValueError(
                f"{path}: axis {axis!r} of length {size} (axes {axes}, shape {tuple(shape)}) is not supported; "
                "cellbundles reads one 2D or 3D image per file (Z, Y, X, optional channels)."
            )
        if role in roles:
            raise ValueError(
                f"{path}: cannot map the TIFF axes {axes} with shape {tuple(shape)} to (Z, Y, X[, C]); cellbundles "
                "reads one 2D or 3D image per file, single-channel or RGB(A) (is a channel axis stored as pages?)."
            )
        roles[role] = index
    if "Y" not in roles or "X" not in roles:
        raise ValueError(f"{path}: the TIFF axes {axes} have no Y and X axes.")
    order = tuple(roles[role] for role in "ZYXC" if role in roles)
    return _AxisLayout(source_order=order, dropped=tuple(dropped), n_spatial=3 if "Z" in roles else 2, rgb="C" in roles)


def _rational_size(page: tifffile.TiffPage, tag_name: str) -> float | None:
    """Size of one pixel in the resolution unit, from XResolution / YResolution (pixels per unit)."""
    tag = page.tags.get(tag_name)
    if tag is None:
        return None
    numerator, denominator = tag.value
    return denominator / numerator if numerator else None


def _imagej_spacing(metadata: dict, page: tifffile.TiffPage, n_spatial: int) -> tuple[float, ...] | None:
    factor = micrometres_per_unit(metadata.get("unit"))
    if factor is None:
        return None
    y_size = _rational_size(page, "YResolution") or 1.0
    x_size = _rational_size(page, "XResolution") or 1.0
    sizes = (y_size, x_size) if n_spatial == 2 else (float(metadata.get("spacing", 1.0)), y_size, x_size)
    return as_spacing(size * factor for size in sizes)


def _ome_spacing(ome_xml: str, n_spatial: int) -> tuple[float, ...] | None:
    root = ElementTree.fromstring(ome_xml)
    pixels = next((element for element in root.iter() if element.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        return None
    sizes = []
    for axis in "ZYX"[3 - n_spatial :]:
        value = pixels.get(f"PhysicalSize{axis}")
        factor = micrometres_per_unit(pixels.get(f"PhysicalSize{axis}Unit", "µm"))
        if value is None or factor is None:
            return None
        sizes.append(float(value) * factor)
    return as_spacing(sizes)


def _resolution_tag_spacing(page: tifffile.TiffPage, n_spatial: int) -> tuple[float, ...] | None:
    unit_tag = page.tags.get("ResolutionUnit")
    factor = _RESOLUTION_UNIT_MICROMETRES.get(int(unit_tag.value)) if unit_tag is not None else None
    if factor is None or n_spatial != 2:
        return None
    y_size, x_size = _rational_size(page, "YResolution"), _rational_size(page, "XResolution")
    if y_size is None or x_size is None:
        return None
    return as_spacing((y_size * factor, x_size * factor))


def _spacing(tif: tifffile.TiffFile, n_spatial: int) -> tuple[float, ...] | None:
    page = tif.pages[0]
    if tif.is_ome and tif.ome_metadata:
        return _ome_spacing(tif.ome_metadata, n_spatial)
    if tif.is_imagej and tif.imagej_metadata is not None:
        return _imagej_spacing(tif.imagej_metadata, page, n_spatial)
    return _resolution_tag_spacing(page, n_spatial)


def _check_not_truncated(tif: tifffile.TiffFile, series: tifffile.TiffPageSeries, path: str | os.PathLike) -> None:
    """Raise when pixel data of the series would lie past the end of the file, so that the message says
    "truncated" before a decoder fails with a less telling one."""
    file_size = tif.filehandle.size
    if series.dataoffset is not None:
        end = series.dataoffset + series.nbytes
    else:
        end = max(
            (
                offset + count
                for page in series.pages
                if page is not None
                for offset, count in zip(page.dataoffsets, page.databytecounts)
            ),
            default=0,
        )
    if end > file_size:
        raise ValueError(
            f"{path}: cannot read TIFF file: truncated, the pixel data ends at byte {end}, "
            f"the file has {file_size} bytes."
        )


class _ErrorLog(logging.Handler):
    """Collects the ERROR records tifffile logs in this thread (it logs, rather than raises, on a broken
    page chain or inconsistent series metadata, then returns fewer pages or different axes)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


@contextmanager
def _open_series(path: str | os.PathLike) -> Iterator[tuple[tifffile.TiffFile, tifffile.TiffPageSeries, _AxisLayout]]:
    """Open a TIFF file and map the axes of its first series; decoder errors, and errors that tifffile
    only logs, become ``ValueError("<path>: cannot read TIFF file: ...")``."""
    error_log = _ErrorLog()
    tifffile_logger = logging.getLogger("tifffile")
    tifffile_logger.addHandler(error_log)
    try:
        with reading_errors(path, "TIFF"):
            tif = tifffile.TiffFile(path)
        with tif:
            with reading_errors(path, "TIFF"):
                series = tif.series[0]
                axes, shape = series.axes, tuple(series.shape)
            if error_log.messages:
                raise ValueError(f"{path}: cannot read TIFF file: {error_log.messages[0]}")
            yield tif, series, _axis_layout(axes, shape, path)
            if error_log.messages:
                raise ValueError(f"{path}: cannot read TIFF file: {error_log.messages[0]}")
    finally:
        tifffile_logger.removeHandler(error_log)


def read_tiff_spacing(path: str | os.PathLike) -> tuple[float, ...] | None:
    """Read only the voxel spacing of a TIFF file (tags and metadata, no pixel data).

    Args:
        path: a ``.tif`` / ``.tiff`` / ``.ome.tif`` file.

    Returns:
        spacing in micrometres, (z, y, x) or (y, x), or None when the file states none.

    Raises:
        ValueError: for a file that is not a readable TIFF or has axes that cellbundles cannot map.
    """
    with _open_series(path) as (tif, _, layout), reading_errors(path, "the metadata of the TIFF"):
        return _spacing(tif, layout.n_spatial)


def read_tiff(path: str | os.PathLike) -> DecodedImage:
    """Read the first image series of a TIFF / ImageJ / OME-TIFF file with its spacing.

    Singleton axes are dropped; the depth axis (``Z``, or the page axis of a plain multi-page TIFF)
    comes first; a colour axis (samples, or a channel axis of 3 or 4 entries) goes last.

    Args:
        path: a ``.tif`` / ``.tiff`` / ``.ome.tif`` file.

    Returns:
        the array (Z, Y, X) or (Y, X) (+ trailing RGB(A) axis), the spacing in micrometres in
        (z, y, x) / (y, x) order or None, and whether the image is colour.

    Raises:
        ValueError: for a damaged, truncated or non-TIFF file, or axes that cellbundles cannot map
            (a time series, 2 or more than 4 channels).
    """
    with _open_series(path) as (tif, series, layout):
        _check_not_truncated(tif, series, path)
        with reading_errors(path, "TIFF"):
            data = series.asarray()
        with reading_errors(path, "the metadata of the TIFF"):
            spacing = _spacing(tif, layout.n_spatial)
    kept = [index for index in range(data.ndim) if index not in layout.dropped]
    data = np.squeeze(data, axis=layout.dropped) if layout.dropped else data
    data = np.transpose(data, [kept.index(index) for index in layout.source_order])
    return DecodedImage(data, spacing, layout.rgb)


def write_tiff(
    path: str | os.PathLike, array: np.ndarray, spacing: tuple[float, ...] | None = None, *, color: bool = False
) -> None:
    """Write an ImageJ hyperstack TIFF, or an OME-TIFF when the name ends in ``.ome.tif(f)``, atomically.

    ImageJ files carry axes ``ZYX`` / ``YX`` (``...S`` for colour), unit ``micron``, the z step as
    ``spacing`` and the y / x pixel size as XResolution / YResolution, so Fiji and napari show the voxel
    size. OME-TIFF files carry ``PhysicalSizeZ/Y/X`` in µm. Pixels are stored as uint8, uint16 or
    float32 (see :func:`cellbundles.io.dtypes.cast_for_format`: bool -> uint8, float64 -> float32,
    wider integers -> uint16 or, beyond 65535, float32).

    Args:
        path: target file.
        array: (Z, Y, X) or (Y, X), plus a trailing RGB(A) axis (uint8) when ``color``.
        spacing: micrometres per spatial axis in (z, y, x) / (y, x) order, or None.
        color: whether the last axis holds RGB(A) samples.
    """
    data = cast_for_format(np.asarray(array), _IMAGEJ_DTYPES, path, "TIFF")
    n_spatial = data.ndim - 1 if color else data.ndim
    if color and data.dtype != np.uint8:
        raise ValueError(f"{path}: colour TIFF images must be uint8, got {data.dtype}.")
    axes = "ZYX"[3 - n_spatial :] + ("S" if color else "")
    photometric = "rgb" if color else "minisblack"
    metadata: dict[str, object] = {"axes": axes}
    options: dict[str, object] = {}
    is_ome = full_suffix(path).lower() in OME_TIFF_SUFFIXES
    if spacing is not None and is_ome:
        for axis, size in zip("ZYX"[3 - n_spatial :], spacing):
            metadata[f"PhysicalSize{axis}"] = float(size)
            metadata[f"PhysicalSize{axis}Unit"] = "µm"
    elif spacing is not None:
        metadata["unit"] = "micron"
        if n_spatial == 3:
            metadata["spacing"] = float(spacing[0])
        options["resolution"] = (1.0 / float(spacing[-1]), 1.0 / float(spacing[-2]))
    with atomic_write(path) as temporary:
        tifffile.imwrite(
            temporary, data, ome=is_ome, imagej=not is_ome, photometric=photometric, metadata=metadata, **options
        )
