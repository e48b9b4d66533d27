"""Residual encoder-decoder (``ResUNet``) for 2D nuclei segmentation (seed 002).

Reference:
    Seed 002, "Nuclei Segmentation in Cell Images using Fully Convolutional Neural Networks":
    a U-Net whose encoder is a ResNet-18 (Table 1) and whose decoder stages are a transposed
    convolution, a concatenation skip and a residual block (Table 2), trained with BCE + soft Dice
    on BBBC038 (DSB2018).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.blocks.dynunet_block import UnetResBlock
from monai.networks.layers.factories import Conv

from .padding import crop_spatial, divisible_padding
from .residual_encoder import ResidualEncoder

__all__ = ["ResUNet"]


class _ResidualUpBlock(nn.Module):
    """One decoder stage of Table 2: ``2x2`` transposed convolution (stride 2), concatenation with
    the encoder skip, then a residual block of two ``3x3`` convolutions (batch normalisation, ReLU,
    ``1x1`` projection shortcut from the concatenated channels)."""

    def __init__(self, spatial_dims: int, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = Conv[Conv.CONVTRANS, spatial_dims](in_channels, out_channels, kernel_size=2, stride=2)
        self.block = UnetResBlock(
            spatial_dims,
            out_channels + skip_channels,
            out_channels,
            kernel_size=3,
            stride=1,
            norm_name="batch",
            act_name=("relu", {"inplace": True}),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.block(torch.cat([self.up(x), skip], dim=1))


class ResUNet(nn.Module):
    """Residual U-Net of seed 002 (Tables 1 and 2).

    Encoder (:class:`~cellbundles.networks.residual_encoder.ResidualEncoder`, ResNet-18 layout):
    ``7x7`` stride-2 convolution with ``features[0]`` channels (stage 1), ``3x3`` stride-2 max
    pooling, then four residual stages of ``blocks`` blocks with widths ``features`` (the paper's
    64-64-128-256-512 with the stem), stages 3-5 down-sampling with stride-2 convolutions.
    Decoder (stages 6-9): four ``2x2`` stride-2 transposed convolutions, each followed by
    concatenation with the encoder output of the same resolution (stages 4, 3, 2 and the stem) and
    a residual block; widths ``features[2], features[1], features[0], features[0]``. Stage 10: a
    ``1x1`` convolution to ``out_channels`` logits (the paper: 2 classes).

    Departures from the paper, on purpose:

    - the paper maps ``256x256`` inputs to ``128x128`` masks (the decoder stops at the stem's
      stride 2). With ``full_resolution=True`` (default) the logits are up-sampled bilinearly by 2
      (no parameters), so the output has the input's size, as MONAI's sliding-window inference and
      full-size label comparison need; ``full_resolution=False`` keeps the paper's half-size output.
    - inputs whose spatial size is not a multiple of 32 are padded (replicate) inside ``forward``
      and the output is cropped back, so any size works (the paper resizes to ``256x256``).
    - ``in_channels`` defaults to 1 (images normalised to one channel by
      :class:`cellbundles.transforms.ToSingleChannel`); the paper feeds RGB (3 channels).

    Widths: the default ``features=(64, 128, 256, 512)`` is the paper's network; narrower widths,
    e.g. ``(16, 32, 64, 128)``, train on a laptop CPU. Parameter counts (2D, ``in_channels=1``,
    ``out_channels=2``, ``blocks=(2, 2, 2, 2)``):

    ========================  ==========
    ``features``              parameters
    ========================  ==========
    ``(64, 128, 256, 512)``   14,491,714
    ``(32, 64, 128, 256)``     3,627,042
    ``(16, 32, 64, 128)``        908,818
    ``(8, 16, 32, 64)``          228,234
    ========================  ==========

    Args:
        spatial_dims: number of spatial dimensions (2 for this method; 3 also works).
        in_channels: number of image channels.
        out_channels: number of output logits (paper: 2, background and nucleus).
        features: widths of the four residual stages; the stem has ``features[0]`` channels.
        blocks: residual blocks per encoder stage (paper: 2 each).
        full_resolution: up-sample the output to the input size (default) or keep half size.

    Returns (``forward``):
        ``(B, out_channels, [D,] H, W)`` logits, or ``(B, out_channels, [ceil(D/2),] ceil(H/2), ceil(W/2))``
        with ``full_resolution=False``.

    TorchScript: ``torch.jit.script`` keeps the padding logic and accepts any size;
    ``torch.jit.trace`` records the padding of its example input, so trace with sizes that are
    multiples of 32 (as sliding-window patches are) and feed such sizes.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 2,
        features: Sequence[int] = (64, 128, 256, 512),
        blocks: Sequence[int] = (2, 2, 2, 2),
        full_resolution: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = ResidualEncoder(spatial_dims, in_channels, features, blocks, block="basic")
        stem, stage2, stage3, stage4, stage5 = self.encoder.feature_channels
        self.decoder = nn.ModuleList(
            [
                _ResidualUpBlock(spatial_dims, stage5, stage4, stage4),
                _ResidualUpBlock(spatial_dims, stage4, stage3, stage3),
                _ResidualUpBlock(spatial_dims, stage3, stage2, stage2),
                _ResidualUpBlock(spatial_dims, stage2, stem, stem),
            ]
        )
        self.head = Conv[Conv.CONV, spatial_dims](stem, out_channels, kernel_size=1)
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.full_resolution = full_resolution
        self.size_divisor = 32
        self.upsample_mode = "bilinear" if spatial_dims == 2 else "trilinear"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of ``x`` ``(B, in_channels, [D,] H, W)``, see the class docstring for the output size."""
        spatial_shape = list(x.shape[2:])
        pads = divisible_padding(spatial_shape, self.size_divisor)
        if sum(pads) > 0:
            x = F.pad(x, pads, mode="replicate")
        features = self.encoder(x)
        out = features[4]
        for level, up_block in enumerate(self.decoder):
            out = up_block(out, features[3 - level])
        out = self.head(out)
        if self.full_resolution:
            out = F.interpolate(out, scale_factor=2.0, mode=self.upsample_mode, align_corners=False)
            output_shape = spatial_shape
        else:
            output_shape = [(size + 1) // 2 for size in spatial_shape]
        return crop_spatial(out, output_shape)
