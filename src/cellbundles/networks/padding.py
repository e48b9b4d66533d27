"""Padding to a size multiple and cropping back, so that encoder-decoder networks accept any input size.

Both functions are TorchScript compatible: a scripted network keeps the logic for every input size.
"""

from __future__ import annotations

import torch

__all__ = ["crop_spatial", "divisible_padding"]


def divisible_padding(spatial_shape: list[int], divisor: int) -> list[int]:
    """``torch.nn.functional.pad`` amounts that make every spatial size a multiple of ``divisor``.

    Args:
        spatial_shape: spatial sizes ``[[D,] H, W]``.
        divisor: the size multiple (e.g. ``2 ** number_of_downsamplings``).

    Returns:
        ``[0, pad_W, 0, pad_H[, 0, pad_D]]`` (last axis first, padding at the end of each axis).
    """
    pads: list[int] = []
    for axis in range(len(spatial_shape) - 1, -1, -1):
        pads += [0, (divisor - spatial_shape[axis] % divisor) % divisor]
    return pads


def crop_spatial(x: torch.Tensor, spatial_shape: list[int]) -> torch.Tensor:
    """The leading ``spatial_shape`` part of the spatial axes of ``x`` ``(B, C, [D,] H, W)``."""
    for axis, size in enumerate(spatial_shape):
        x = x.narrow(axis + 2, 0, size)
    return x
