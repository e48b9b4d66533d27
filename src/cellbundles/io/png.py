"""PNG files: 2D grey (uint8 / uint16), palette (read as indices) and RGB(A) images. PNG stores no voxel size."""

from __future__ import annotations

import os

import numpy as np

from cellbundles.io.atomic import atomic_write
from cellbundles.io.decoded import DecodedImage
from cellbundles.io.dtypes import cast_for_format
from cellbundles.io.validation import reading_errors

__all__ = ["read_png", "write_png", "PNG_SUFFIXES"]

PNG_SUFFIXES = (".png",)

_PNG_DTYPES = (np.uint8, np.uint16)


def read_png(path: str | os.PathLike) -> DecodedImage:
    """Read a PNG image.

    Args:
        path: a ``.png`` file.

    Returns:
        the array, spacing None, and whether it is colour: (Y, X) for grey, palette (the indices, as
        label PNGs use them) and 1-bit images (0 / 1); (Y, X, 3) or (Y, X, 4) for RGB / RGBA; a
        grey / palette + alpha image loses its alpha.

    Raises:
        ValueError: for a damaged, truncated or non-PNG file.
    """
    from PIL import Image

    with reading_errors(path, "PNG"):
        with Image.open(path) as image:
            if image.format != "PNG":
                raise ValueError(f"the content is {image.format}, not PNG")
            if image.mode in ("LA", "PA"):
                image = image.getchannel(0)
            array = np.array(image)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    return DecodedImage(array, None, array.ndim == 3)


def write_png(path: str | os.PathLike, array: np.ndarray, *, color: bool = False) -> None:
    """Write a 2D image as PNG, atomically.

    Args:
        path: target ``.png`` file.
        array: (Y, X) uint8 / uint16 (bool and small integer types are converted losslessly), or
            (Y, X, 3|4) uint8 when ``color``.
        color: whether the last axis holds RGB(A) samples.
    """
    from PIL import Image

    data = cast_for_format(np.asarray(array), _PNG_DTYPES, path, "PNG")
    n_spatial = data.ndim - 1 if color else data.ndim
    if n_spatial != 2:
        raise ValueError(
            f"{path}: PNG holds 2D images, got an array of shape {tuple(data.shape)}; use .tif for volumes."
        )
    if color and data.dtype != np.uint8:
        raise ValueError(f"{path}: colour PNG images must be uint8, got {data.dtype}.")
    with atomic_write(path) as temporary:
        Image.fromarray(data).save(temporary, format="PNG")
