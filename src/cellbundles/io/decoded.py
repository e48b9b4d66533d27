"""The result of decoding one image file, shared by the format modules."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["DecodedImage"]


class DecodedImage(NamedTuple):
    """Pixels and metadata of one image file.

    Attributes:
        array: (Z, Y, X) or (Y, X), with a trailing RGB(A) axis when ``rgb``.
        spacing: micrometres per spatial axis in (z, y, x) / (y, x) order, or None when the file has none.
        rgb: whether the last axis of ``array`` holds colour samples (known from the file, not guessed).
    """

    array: np.ndarray
    spacing: tuple[float, ...] | None
    rgb: bool
