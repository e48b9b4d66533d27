"""Reading and writing microscopy images, labels and centroid tables with their physical spacing.

Every array is in (Z, Y, X) or (Y, X) order (a trailing channel axis only for RGB(A) images) and every
spacing is in micrometres in the same (z, y, x) order. Writers are atomic (:func:`atomic_write`).
Bad input raises ``ValueError("<path>: <problem>")``; a missing file raises ``FileNotFoundError``.

:class:`TiffReader` (a MONAI ``ImageReader`` for ``LoadImage`` / ``LoadImaged``) is loaded lazily, so
importing this package does not import torch or MONAI.
"""

from __future__ import annotations

from typing import Any

from cellbundles.io.atomic import atomic_write, full_suffix
from cellbundles.io.centroids import read_centroids_csv, write_centroids_csv
from cellbundles.io.decoded import DecodedImage
from cellbundles.io.image import (
    SUPPORTED_SUFFIXES,
    decode_image,
    image_format,
    image_stem,
    is_supported_image,
    read_image,
    read_labels,
    read_spacing,
    write_image,
)
from cellbundles.io.validation import is_color_image, validate_image, validate_labels, validate_pair

__all__ = [
    "SUPPORTED_SUFFIXES",
    "DecodedImage",
    "TiffReader",
    "atomic_write",
    "decode_image",
    "full_suffix",
    "image_format",
    "image_stem",
    "is_color_image",
    "is_supported_image",
    "read_centroids_csv",
    "read_image",
    "read_labels",
    "read_spacing",
    "validate_image",
    "validate_labels",
    "validate_pair",
    "write_centroids_csv",
    "write_image",
]


def __getattr__(name: str) -> Any:
    if name == "TiffReader":
        from cellbundles.io.reader import TiffReader

        return TiffReader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
