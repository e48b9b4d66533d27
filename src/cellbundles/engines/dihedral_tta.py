"""Test-time augmentation over the in-plane symmetries of the image (flips and 90-degree rotations)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from monai.inferers import Inferer, SimpleInferer

__all__ = ["DihedralTTAInferer", "dihedral_transforms"]

#: name -> (quarter turns, flip of the last axis) of every view; ``d8`` is the whole dihedral group of the square
TTA_VIEWS = {
    "none": [(0, False)],
    "flips": [(0, False), (0, True), (2, False), (2, True)],
    "d8": [(turns, flip) for turns in range(4) for flip in (False, True)],
}


def dihedral_transforms(name: str) -> list[tuple[int, bool]]:
    """The ``(quarter turns, flip)`` views of ``name`` (``none``, ``flips`` or ``d8``)."""
    if name not in TTA_VIEWS:
        raise ValueError(f"unknown test-time augmentation {name!r}: choose one of {', '.join(TTA_VIEWS)}.")
    return TTA_VIEWS[name]


class DihedralTTAInferer(Inferer):
    """Average a network's outputs over flipped and rotated views of the input, each mapped back.

    Every view turns the last two axes (y, x) by a multiple of 90 degrees and may flip x; the output of
    each view is turned back before averaging, so the result is on the input grid. In 3D the z axis is
    never touched (it usually has another voxel size). Outputs must transform with the image, as
    segmentation logits, boundary and distance maps do (not vector fields such as flows). The average is
    taken over the raw outputs (logits), one view at a time, so the memory is that of two outputs.

    ``d8`` (8 views) is the 2D bundles' default (``tta``); its measured effect is in ``docs/decisions.md``.

    Args:
        transforms: ``none`` (one pass), ``flips`` (4 views: x, y and both flipped) or ``d8`` (8 views).
        inferer: runs the network on every view (e.g. a ``SlidingWindowInferer``); ``SimpleInferer()`` if None.
    """

    def __init__(self, transforms: str = "d8", inferer: Inferer | None = None) -> None:
        super().__init__()
        self.views = dihedral_transforms(transforms)
        self.inferer = SimpleInferer() if inferer is None else inferer

    def __call__(self, inputs: torch.Tensor, network: nn.Module, *args: Any, **kwargs: Any) -> torch.Tensor:
        """
        Args:
            inputs: ``(B, C, [D,] H, W)`` images.
            network: the model.
            args: passed to ``inferer``.
            kwargs: passed to ``inferer``.

        Returns:
            ``(B, C_out, [D,] H, W)``: the mean of the outputs of every view.
        """
        if inputs.ndim < 4:
            raise ValueError(f"expected (B, C, [D,] H, W) inputs, got shape {tuple(inputs.shape)}.")
        total = None
        for turns, flip in self.views:
            view = torch.flip(inputs, (-1,)) if flip else inputs
            output = self.inferer(torch.rot90(view, turns, (-2, -1)), network, *args, **kwargs)
            output = torch.rot90(output, -turns, (-2, -1))
            output = torch.flip(output, (-1,)) if flip else output
            total = output if total is None else total + output
        return total / len(self.views)
