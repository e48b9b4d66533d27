"""Reduced ResNet-50 with a feature pyramid, the backbone of seed 004 (feature pyramid fusion).

Reference:
    Korfhage N, Muhling M, Ringshandl S, Becker A, Schmeck B, Freisleben B, "Detection and
    segmentation of morphologically complex eukaryotic cells in fluorescence microscopy images via
    feature pyramid fusion", PLoS Comput Biol 16(9): e1008179, 2020, section "Reduced ResNet-50
    backbone" and its Table 1: the filters and the building blocks of ResNet-50 halved.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.resnet import Bottleneck
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

__all__ = ["ReducedResNet50", "reduced_resnet50_fpn"]


class ReducedResNet50(nn.Module):
    """ResNet-50 with halved widths and bottleneck blocks ``(2, 2, 4, 2)`` instead of ``(3, 4, 6, 3)``.

    Stem: ``7x7`` stride-2 convolution to ``widths[0]`` channels, batch normalisation, ReLU,
    ``3x3`` stride-2 max pooling. Stages ``layer1``-``layer4``: torchvision ``Bottleneck`` blocks of
    inner width ``widths[i]`` and output width ``4 * widths[i]``; the first block of stages 2-4 has
    stride 2. Input ``(B, in_channels, H, W)``; ``layer1``-``layer4`` give strides 4, 8, 16, 32 with
    ``(128, 256, 512, 1024)`` channels at the default widths ``(32, 64, 128, 256)``.

    Args:
        in_channels: image channels (1: one fluorescence channel).
        blocks: bottleneck blocks per stage.
        widths: inner width of each stage's blocks (ResNet-50: 64, 128, 256, 512).
    """

    def __init__(
        self, in_channels: int = 1, blocks: Sequence[int] = (2, 2, 4, 2), widths: Sequence[int] = (32, 64, 128, 256)
    ) -> None:
        super().__init__()
        if len(blocks) != 4 or len(widths) != 4:
            raise ValueError(f"blocks and widths need one entry per stage (4), got {blocks} and {widths}.")
        self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_width = widths[0]
        for stage, (n_blocks, width) in enumerate(zip(blocks, widths), start=1):
            stride = 1 if stage == 1 else 2
            self.add_module(f"layer{stage}", self._stage(in_width, width, n_blocks, stride))
            in_width = width * Bottleneck.expansion
        self.out_channels = [width * Bottleneck.expansion for width in widths]
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _stage(in_width: int, width: int, n_blocks: int, stride: int) -> nn.Sequential:
        out_width = width * Bottleneck.expansion
        downsample = nn.Sequential(
            nn.Conv2d(in_width, out_width, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(out_width)
        )
        layers = [Bottleneck(in_width, width, stride=stride, downsample=downsample)]
        layers += [Bottleneck(out_width, width) for _ in range(n_blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` -> ``(B, 4 * widths[3], H / 32, W / 32)`` (the pyramid reads the stages)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def reduced_resnet50_fpn(
    in_channels: int = 1,
    blocks: Sequence[int] = (2, 2, 4, 2),
    widths: Sequence[int] = (32, 64, 128, 256),
    fpn_channels: int = 256,
) -> BackboneWithFPN:
    """:class:`ReducedResNet50` with a feature pyramid of ``fpn_channels`` channels (torchvision's ``BackboneWithFPN``).

    Returns a module mapping ``(B, in_channels, H, W)`` to an ordered dict of pyramid levels ``"0"``-``"3"``
    (P2-P5, strides 4-32) and ``"pool"`` (P6, stride 64), each ``(B, fpn_channels, h, w)``.
    """
    body = ReducedResNet50(in_channels=in_channels, blocks=blocks, widths=widths)
    return BackboneWithFPN(
        body,
        return_layers={f"layer{stage}": str(stage - 1) for stage in range(1, 5)},
        in_channels_list=body.out_channels,
        out_channels=fpn_channels,
        extra_blocks=LastLevelMaxPool(),
    )
