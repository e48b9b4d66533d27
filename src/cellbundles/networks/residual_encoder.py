"""ResNet encoder returning the feature map of every stage, shared by ``ResUNet`` and ``ResNetFCN``.

Reference:
    He, Zhang, Ren and Sun, "Deep Residual Learning for Image Recognition", CVPR 2016: the ResNet
    layout (``7x7`` stride-2 stem convolution, ``3x3`` stride-2 max pooling, four residual stages, the
    last three starting with a stride-2 convolution) that the encoder of seed 002 (Table 1, a
    ResNet-18 layout) and the ResNet of seed 003 follow.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.nets.resnet import ResNet, ResNetBlock, ResNetBottleneck

__all__ = ["ResidualEncoder"]

_BLOCKS = {"basic": ResNetBlock, "bottleneck": ResNetBottleneck}


class ResidualEncoder(ResNet):
    """MONAI's ``ResNet`` without its classifier, returning the output of the stem and of each stage.

    Layout: ``7x7`` convolution with stride 2 (``features[0]`` channels), batch normalisation, ReLU
    (stage 1, stride 2); ``3x3`` max pooling with stride 2 then ``blocks[0]`` residual blocks
    (stage 2, stride 4); stages 3-5 with ``blocks[1:]`` residual blocks each, the first one with a
    stride-2 ``3x3`` convolution and a ``1x1`` stride-2 projection shortcut (strides 8, 16, 32).
    The defaults ``features=(64, 128, 256, 512)``, ``blocks=(2, 2, 2, 2)`` and ``block="basic"``
    (two ``3x3`` convolutions per block) are ResNet-18 and the encoder of seed 002 (Table 1:
    stages 64-64-128-256-512); ``blocks=(3, 8, 36, 3)`` with ``block="bottleneck"`` is ResNet-152.

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3.
        in_channels: number of image channels.
        features: widths of the four residual stages (stages 2-5); the stem has ``features[0]``.
            With bottleneck blocks a stage outputs four times its width.
        blocks: number of residual blocks in each of the four stages.
        block: ``"basic"`` (two ``3x3`` convolutions) or ``"bottleneck"`` (``1x1``, ``3x3``, ``1x1``).

    Returns (``forward``):
        list of five tensors ``(B, C_i, [D,] H / s_i, W / s_i)`` with strides ``s = 2, 4, 8, 16, 32``
        and channels :attr:`feature_channels` (sizes rounded up for inputs that are not multiples of 32).
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        features: Sequence[int] = (64, 128, 256, 512),
        blocks: Sequence[int] = (2, 2, 2, 2),
        block: str = "basic",
    ) -> None:
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
        features = [int(f) for f in features]
        blocks = [int(b) for b in blocks]
        if len(features) != 4 or min(features) < 1:
            raise ValueError(f"features must hold four positive stage widths, got {features}.")
        if len(blocks) != 4 or min(blocks) < 1:
            raise ValueError(f"blocks must hold four positive numbers of residual blocks, got {blocks}.")
        if block not in _BLOCKS:
            raise ValueError(f"block must be one of {sorted(_BLOCKS)}, got {block!r}.")
        super().__init__(
            block=_BLOCKS[block],
            layers=blocks,
            block_inplanes=features,
            spatial_dims=spatial_dims,
            n_input_channels=in_channels,
            conv1_t_size=7,
            conv1_t_stride=2,
            feed_forward=False,
            bias_downsample=False,
        )
        expansion = _BLOCKS[block].expansion
        self.feature_channels: tuple[int, ...] = (features[0], *(f * expansion for f in features))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # type: ignore[override]
        """Feature maps of ``x`` ``(B, in_channels, [D,] H, W)`` at strides 2, 4, 8, 16 and 32."""
        stem = self.act(self.bn1(self.conv1(x)))
        stage2 = self.layer1(self.maxpool(stem))
        stage3 = self.layer2(stage2)
        stage4 = self.layer3(stage3)
        stage5 = self.layer4(stage4)
        return [stem, stage2, stage3, stage4, stage5]
