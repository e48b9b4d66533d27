"""Lossless choice of the pixel type a file format can store."""

from __future__ import annotations

import os

import numpy as np

__all__ = ["cast_for_format"]

_FLOAT32_EXACT_INTEGER_LIMIT = 2**24


def cast_for_format(
    array: np.ndarray, allowed: tuple[np.dtype, ...], path: str | os.PathLike, format_name: str
) -> np.ndarray:
    """Convert ``array`` to a pixel type that ``format_name`` stores, without changing any value that matters.

    Rules: a dtype in ``allowed`` is kept; bool becomes uint8; floats become float32 (float64 -> float32
    loses only precision that microscopy intensities do not have); integers go to the smallest allowed
    integer type that holds their range, else to float32 when every value is exactly representable
    there (ImageJ's 32-bit label images), else the call fails.

    Args:
        array: pixel array of any shape.
        allowed: the dtypes the format stores, in order of preference.
        path: the target file, quoted in the error message.
        format_name: e.g. ``"ImageJ TIFF"``, quoted in the error message.

    Raises:
        ValueError: when no allowed dtype holds the values exactly.
    """
    allowed = tuple(np.dtype(dtype) for dtype in allowed)
    if array.dtype in allowed:
        return array
    if array.dtype == np.bool_ and np.dtype(np.uint8) in allowed:
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating) and np.dtype(np.float32) in allowed:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
        for dtype in allowed:
            if np.issubdtype(dtype, np.integer) and np.iinfo(dtype).min <= low and high <= np.iinfo(dtype).max:
                return array.astype(dtype)
        if np.dtype(np.float32) in allowed and max(abs(low), abs(high)) <= _FLOAT32_EXACT_INTEGER_LIMIT:
            return array.astype(np.float32)
    names = ", ".join(dtype.name for dtype in allowed)
    raise ValueError(
        f"{path}: {format_name} cannot store {array.dtype} pixels with these values exactly (it stores {names})."
    )
