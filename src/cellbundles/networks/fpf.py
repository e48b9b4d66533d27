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
import torch.nn.functional as F

from .maskrcnn import ReducedMaskRCNN
from .reduced_resnet import reduced_resnet50_fpn

__all__ = ["FPFMaskRCNN", "FUSIONS", "FUSION_SITES", "PyramidFusion", "warm_start_from_nucleus"]

FUSIONS = ("add", "concat")
FUSION_SITES = ("output", "lateral")


class PyramidFusion(nn.Module):
    """Two pyramids, one per channel, merged level by level: the frozen nucleus pyramid into the trained cell pyramid.

    Input ``(B, 2, H, W)``: the nucleus channel runs through ``nucleus`` (frozen: no gradients, batch
    normalisation kept in evaluation mode), the cell channel through ``cell``; two ``(B, C, h, w)`` maps of a
    level are merged into one ``(B, C, h, w)`` map by ``fusion="add"`` (cell + nucleus) or ``fusion="concat"``
    (a ``1x1`` convolution of the ``(B, 2C, h, w)`` concatenation, one per level). Where they merge:

    - ``site="output"``: the two finished pyramids, at every level ``"0"``-``"3"`` (P2-P5, read by the box and
      mask heads) and ``"pool"`` (P6, read by the RPN with P2-P5);
    - ``site="lateral"``: the nucleus levels P2-P5 enter the cell pyramid at its lateral connections, before its
      top-down sums and ``3x3`` output convolutions (the seed's "merging ... for residual and lateral
      connections"), so the trained convolutions see both stains and coarse nucleus levels reach the fine ones;
      P6 is pooled from the fused P5.

    Args:
        cell: pyramid of the cell channel, ``(B, 1, H, W)`` -> ordered dict of levels, with ``out_channels``
            (torchvision's ``BackboneWithFPN``: ``body`` and ``fpn``).
        nucleus: pyramid of the nucleus channel, same levels and channels (the stage-1 nucleus model's).
        fusion: "add" or "concat".
        nucleus_channel, cell_channel: channel indices of the two stains in the input.
        site: "output" or "lateral".
    """

    def __init__(
        self,
        cell: nn.Module,
        nucleus: nn.Module,
        fusion: str = "add",
        nucleus_channel: int = 0,
        cell_channel: int = 1,
        site: str = "output",
    ) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}.")
        if site not in FUSION_SITES:
            raise ValueError(f"site must be one of {FUSION_SITES}, got {site!r}.")
        if sorted((nucleus_channel, cell_channel)) != [0, 1]:
            raise ValueError(f"nucleus_channel and cell_channel must be 0 and 1, got {nucleus_channel, cell_channel}.")
        self.cell, self.nucleus = cell, nucleus
        self.fusion, self.nucleus_channel, self.cell_channel, self.site = fusion, nucleus_channel, cell_channel, site
        self.out_channels = cell.out_channels
        self.nucleus.requires_grad_(False)
        self.merge = None
        if fusion == "concat":
            levels = ("0", "1", "2", "3", "pool") if site == "output" else ("0", "1", "2", "3")
            self.merge = nn.ModuleDict(
                {level: nn.Conv2d(2 * self.out_channels, self.out_channels, kernel_size=1) for level in levels}
            )

    def train(self, mode: bool = True) -> PyramidFusion:
        """Train mode for the cell pyramid and the merge convolutions; the nucleus pyramid stays in evaluation mode."""
        super().train(mode)
        self.nucleus.eval()
        return self

    def _merge(self, level: str, cell: torch.Tensor, nucleus: torch.Tensor) -> torch.Tensor:
        if self.merge is not None:
            for name, merge in self.merge.items():  # TorchScript indexes a ModuleDict by constants only
                if name == level:
                    return merge(torch.cat([cell, nucleus], dim=1))
        return cell + nucleus

    def _lateral_fused_pyramid(self, image: torch.Tensor, nucleus: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The cell pyramid of ``image`` ``(B, 1, H, W)`` with ``nucleus`` merged into its lateral connections
        (torchvision's ``FeaturePyramidNetwork.forward`` with one merge per level)."""
        fpn = self.cell.fpn
        stages = self.cell.body(image)
        names, features = list(stages), list(stages.values())
        top = len(features) - 1
        inner = self._merge(names[top], fpn.get_result_from_inner_blocks(features[top], top), nucleus[names[top]])
        levels = [fpn.get_result_from_layer_blocks(inner, top)]
        for index in range(top - 1, -1, -1):
            lateral = fpn.get_result_from_inner_blocks(features[index], index)
            lateral = self._merge(names[index], lateral, nucleus[names[index]])
            inner = lateral + F.interpolate(inner, size=lateral.shape[-2:], mode="nearest")
            levels.insert(0, fpn.get_result_from_layer_blocks(inner, index))
        levels, names = fpn.extra_blocks(levels, features, names)
        fused: Dict[str, torch.Tensor] = {}
        for name, level in zip(names, levels):
            fused[name] = level
        return fused

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``(B, 2, H, W)`` -> dict of fused levels ``(B, C, H / s, W / s)``, s = 4, 8, 16, 32, 64, in pyramid order."""
        cell_image = x[:, self.cell_channel : self.cell_channel + 1]
        with torch.no_grad():
            nucleus = self.nucleus(x[:, self.nucleus_channel : self.nucleus_channel + 1])
        if self.site == "lateral":
            return self._lateral_fused_pyramid(cell_image, nucleus)
        fused: Dict[str, torch.Tensor] = {}
        for level, features in self.cell(cell_image).items():
            fused[level] = self._merge(level, features, nucleus[level])
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
        fusion_site: "output" or "lateral": where the pyramids merge (:class:`PyramidFusion`).
        nucleus_channel, cell_channel: channel indices of the two stains.
        widths, fpn_channels: of both pyramids (:func:`~cellbundles.networks.reduced_resnet50_fpn`).
        kwargs: further arguments of :class:`ReducedMaskRCNN` (heads, anchors, ...).
    """

    def __init__(
        self,
        fusion: str = "add",
        fusion_site: str = "output",
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
            site=fusion_site,
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
        state = _read_nucleus_state(path)
        pyramid = {key[len("backbone.") :]: value for key, value in state.items() if key.startswith("backbone.")}
        try:
            self.backbone.nucleus.load_state_dict(pyramid)
        except RuntimeError as error:
            raise ValueError(
                f"{path}: not the weights of a nucleus model with these widths and pyramid channels: "
                f"{str(error).splitlines()[0]}"
            ) from error
        return self


def _read_nucleus_state(path: str | Path) -> Dict[str, torch.Tensor]:
    """The state dict of a stage-1 weights file (``torch.load(weights_only=True)``; it may sit under ``"model"``)."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such nucleus weights file (train stage 1 with train_nucleus.json first).")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("model", state)


def warm_start_from_nucleus(network: nn.Module, path: str | Path) -> nn.Module:
    """Initialise a cell Mask R-CNN with the stage-1 nucleus model's weights, in place.

    Seed 004 starts every variant it compares from the same pre-trained backbone (grey-scale ImageNet there, not
    available offline); the trained nucleus model stands in for it. Backbone, pyramid and heads are copied into
    :class:`~cellbundles.networks.ReducedMaskRCNN` (cell channel only, Fig 3a); with two input channels (Fig 3b) the
    first convolution's weights are duplicated and halved, as in the seed; in :class:`FPFMaskRCNN` they initialise
    the trainable cell pyramid (the frozen nucleus pyramid is loaded by :meth:`FPFMaskRCNN.load_nucleus_weights`)
    and the merge convolutions keep their random initialisation.

    Raises:
        ValueError: naming ``path`` when the file is missing or its weights do not fit ``network``.
    """
    state = _read_nucleus_state(path)
    target = network.state_dict()
    prefix = "backbone.cell." if isinstance(getattr(network, "backbone", None), PyramidFusion) else "backbone."
    loaded = {}
    for key, value in state.items():
        name = prefix + key[len("backbone.") :] if key.startswith("backbone.") else key
        expected = target.get(name)
        if expected is not None and value.dim() == 4 and expected.shape[1] == 2 * value.shape[1]:
            value = value.repeat(1, 2, 1, 1) / 2  # one more input channel: duplicated and halved
        if expected is None or expected.shape != value.shape:
            raise ValueError(f"{path}: not the weights of a nucleus model of this network's widths: {key} does not fit.")
        loaded[name] = value
    network.load_state_dict(loaded, strict=False)
    return network
