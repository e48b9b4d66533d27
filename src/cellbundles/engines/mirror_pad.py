"""Inference on an image extended by its own mirror image, so that objects cut by its faces look whole."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.inferers import Inferer, SimpleInferer
from monai.utils import ensure_tuple, ensure_tuple_rep

__all__ = ["MirrorPadInferer", "mirror_pad"]


def mirror_pad(image: torch.Tensor, pads: Sequence[tuple[int, int]]) -> torch.Tensor:
    """``image`` ``(B, C, *spatial)`` extended by ``pads[i] = (before, after)`` voxels on spatial axis ``i`` by reflection
    (the face voxel not repeated, as ``torch.nn.functional.pad``'s ``reflect``), reflected again where the axis is
    shorter than the pad; an axis of one voxel is repeated."""
    n_spatial = image.ndim - 2
    for axis, (before, after) in enumerate(pads):
        while before > 0 or after > 0:
            size = image.shape[2 + axis]
            step = (min(before, max(size - 1, 1)), min(after, max(size - 1, 1)))
            width = [0, 0] * n_spatial  # F.pad lists the last axis first, and wants every axis for these modes
            width[2 * (n_spatial - 1 - axis) : 2 * (n_spatial - axis)] = step
            image = F.pad(image, width, mode="reflect" if size > 1 else "replicate")
            before, after = before - step[0], after - step[1]
    return image


class MirrorPadInferer(Inferer):
    """Run ``inferer`` on the input extended by its mirror image beyond each face, and crop its output back.

    A nucleus cut by a face of a crop is half a blob against whatever the network sees beyond the face:
    zeros of the convolutions' padding, or, where the image is smaller than ``SlidingWindowInferer``'s
    window, the last slice repeated (``padding_mode="replicate"``: a rod). Mirrored at the face it becomes a
    whole, symmetric blob centred on the face, the kind of object the network was trained on. Each axis
    gets ``margin`` voxels before and after, and an axis still shorter than ``min_size`` (the window) is
    extended to it, split between its two faces as ``SlidingWindowInferer`` splits its own padding.

    Args:
        margin: voxels added before and after each spatial axis (one number or one per axis, ``[z,] y, x``).
        min_size: shortest extended axis (one number or one per axis), e.g. the sliding window; None: no minimum.
        inferer: runs the network on the extended image (e.g. a ``SlidingWindowInferer``); ``SimpleInferer()``
            if None.
    """

    def __init__(
        self, margin: int | Sequence[int] = 0, min_size: int | Sequence[int] | None = None, inferer: Inferer | None = None
    ) -> None:
        super().__init__()
        self.margin, self.min_size = margin, 0 if min_size is None else min_size
        for name, value in (("margin", self.margin), ("min_size", self.min_size)):
            if any(not isinstance(v, int) or v < 0 for v in ensure_tuple(value)):
                raise ValueError(f"{name} must be whole voxels >= 0, got {value!r}.")
        self.inferer = SimpleInferer() if inferer is None else inferer

    def __call__(self, inputs: torch.Tensor, network: nn.Module, *args: Any, **kwargs: Any) -> torch.Tensor:
        """``inferer``'s ``(B, C_out, [D,] H, W)`` output for the ``(B, C, [D,] H, W)`` ``inputs`` extended by their mirror
        image, cropped back to the input's grid; ``args`` and ``kwargs`` go to ``inferer``."""
        if inputs.ndim not in (4, 5):
            raise ValueError(f"expected (B, C, [D,] H, W) inputs, got shape {tuple(inputs.shape)}.")
        spatial = inputs.shape[2:]
        margins, min_sizes = ensure_tuple_rep(self.margin, len(spatial)), ensure_tuple_rep(self.min_size, len(spatial))
        pads = []
        for size, margin, min_size in zip(spatial, margins, min_sizes):
            short = max(min_size - size - 2 * margin, 0)
            pads.append((margin + short // 2, margin + short - short // 2))
        if not any(before or after for before, after in pads):
            return self.inferer(inputs, network, *args, **kwargs)
        output = self.inferer(mirror_pad(inputs, pads), network, *args, **kwargs)
        return output[(..., *(slice(before, before + size) for (before, _), size in zip(pads, spatial)))]
