"""Feature pyramid fusion (FPF) of a frozen nucleus model into a cell Mask R-CNN (seed 004).

Reference:
    Korfhage N, Muhling M, Ringshandl S, Becker A, Schmeck B, Freisleben B, "Detection and segmentation of
    morphologically complex eukaryotic cells in fluorescence microscopy images via feature pyramid fusion",
    PLoS Comput Biol 16(9): e1008179, 2020, section "Feature pyramid fusion", Figs 2 and 3c.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Dict

import torch
import torch.nn as nn

from .maskrcnn import ReducedMaskRCNN
from .reduced_resnet import reduced_resnet50_fpn

__all__ = ["FPFMaskRCNN", "FUSIONS", "PyramidFusion"]

FUSIONS = ("add", "concat")


class PyramidFusion(nn.Module):
    """Two pyramids, one per channel, merged level by level: the frozen nucleus pyramid into the trained cell pyramid.

    Input ``(B, 2, H, W)``: the nucleus channel runs through ``nucleus`` (frozen: no gradients, batch
    normalisation kept in evaluation mode), the cell channel through ``cell``; at every level ``"0"``-``"3"``
    (P2-P5, read by the box and mask heads) and ``"pool"`` (P6, read by the RPN with P2-P5) the two
    ``(B, C, h, w)`` maps are merged into one ``(B, C, h, w)`` map, by ``fusion="add"`` (cell + nucleus) or
    ``fusion="concat"`` (a ``1x1`` convolution of the ``(B, 2C, h, w)`` concatenation, one per level).

    Args:
        cell: pyramid of the cell channel, ``(B, 1, H, W)`` -> ordered dict of levels, with ``out_channels``.
        nucleus: pyramid of the nucleus channel, same levels and channels (the stage-1 nucleus model's).
        fusion: "add" or "concat".
        nucleus_channel, cell_channel: channel indices of the two stains in the input.
        levels: names of the pyramid levels.
    """

    def __init__(
        self,
        cell: nn.Module,
        nucleus: nn.Module,
        fusion: str = "add",
        nucleus_channel: int = 0,
        cell_channel: int = 1,
        levels: Sequence[str] = ("0", "1", "2", "3", "pool"),
    ) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}.")
        if sorted((nucleus_channel, cell_channel)) != [0, 1]:
            raise ValueError(f"nucleus_channel and cell_channel must be 0 and 1, got {nucleus_channel, cell_channel}.")
        self.cell, self.nucleus = cell, nucleus
        self.fusion, self.nucleus_channel, self.cell_channel = fusion, nucleus_channel, cell_channel
        self.out_channels = cell.out_channels
        self.nucleus.requires_grad_(False)
        self.merge = None
        if fusion == "concat":
            self.merge = nn.ModuleDict(
                {level: nn.Conv2d(2 * self.out_channels, self.out_channels, kernel_size=1) for level in levels}
            )

    def train(self, mode: bool = True) -> PyramidFusion:
        """Train mode for the cell pyramid and the merge convolutions; the nucleus pyramid stays in evaluation mode."""
        super().train(mode)
        self.nucleus.eval()
        return self

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``(B, 2, H, W)`` -> dict of fused levels ``(B, C, H / s, W / s)``, s = 4, 8, 16, 32, 64, in pyramid order."""
        cell = self.cell(x[:, self.cell_channel : self.cell_channel + 1])
        with torch.no_grad():
            nucleus = self.nucleus(x[:, self.nucleus_channel : self.nucleus_channel + 1])
        fused: Dict[str, torch.Tensor] = {}
        if self.merge is None:
            for level, features in cell.items():
                fused[level] = features + nucleus[level]
        else:
            for level, merge in self.merge.items():
                fused[level] = merge(torch.cat([cell[level], nucleus[level]], dim=1))
        return fused


class FPFMaskRCNN(ReducedMaskRCNN):
    """:class:`ReducedMaskRCNN` for cells on a :class:`PyramidFusion` of two reduced ResNet-50 pyramids (seed 004, Fig 3c).

    Input: a list of ``(2, H, W)`` images in [0, 1] (nucleus and cell stain, order given by ``nucleus_channel`` /
    ``cell_channel``) and, in training, cell targets as for :class:`ReducedMaskRCNN`; output as
    :class:`ReducedMaskRCNN`. The nucleus pyramid has the stage-1 nucleus model's architecture (the same
    ``widths`` / ``fpn_channels``); :meth:`load_nucleus_weights` copies its trained weights in, and they stay
    fixed while the cell pyramid, the merge convolutions and the heads train.

    Args:
        fusion: "add" or "concat" (:class:`PyramidFusion`).
        nucleus_channel, cell_channel: channel indices of the two stains.
        widths, fpn_channels: of both pyramids (:func:`~cellbundles.networks.reduced_resnet50_fpn`).
        kwargs: further arguments of :class:`ReducedMaskRCNN` (heads, anchors, ...).
    """

    def __init__(
        self,
        fusion: str = "add",
        nucleus_channel: int = 0,
        cell_channel: int = 1,
        widths: Sequence[int] = (32, 64, 128, 256),
        fpn_channels: int = 256,
        **kwargs,
    ) -> None:
        backbone = PyramidFusion(
            cell=reduced_resnet50_fpn(in_channels=1, widths=widths, fpn_channels=fpn_channels),
            nucleus=reduced_resnet50_fpn(in_channels=1, widths=widths, fpn_channels=fpn_channels),
            fusion=fusion,
            nucleus_channel=nucleus_channel,
            cell_channel=cell_channel,
        )
        kwargs.setdefault("image_mean", (0.5, 0.5))
        kwargs.setdefault("image_std", (0.5, 0.5))
        super().__init__(in_channels=2, backbone=backbone, **kwargs)

    def load_nucleus_weights(self, path: str | Path) -> FPFMaskRCNN:
        """Copy the pyramid (``backbone.*``) of a stage-1 nucleus :class:`ReducedMaskRCNN` weights file into the
        frozen nucleus pyramid (``torch.load(weights_only=True)``; the state dict may sit under ``"model"``).

        Raises:
            ValueError: naming ``path`` when the file is missing or holds no fitting pyramid.
        """
        if not Path(path).is_file():
            raise ValueError(f"{path}: no such nucleus weights file (train stage 1 with train_nucleus.json first).")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("model", state)
        pyramid = {key[len("backbone.") :]: value for key, value in state.items() if key.startswith("backbone.")}
        try:
            self.backbone.nucleus.load_state_dict(pyramid)
        except RuntimeError as error:
            raise ValueError(
                f"{path}: not the weights of a nucleus model with these widths and pyramid channels: "
                f"{str(error).splitlines()[0]}"
            ) from error
        return self
