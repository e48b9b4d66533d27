"""Networks of the Recycle-GAN along z of seed 001: ResNet generator, U-Net slice predictor, PatchGAN discriminator.

References:
    - Seed 001, section 2.1: generators G1 (binary -> microscopy) and G2 (microscopy -> binary), predictors P1 and P2
      that predict slice ``p + S + 1`` from the ``S`` previous slices (``S = 10``), discriminators D1 and D2.
    - Bansal, Ma, Ramanan and Sheikh, "Recycle-GAN: Unsupervised Video Retargeting", ECCV 2018, whose architecture
      the seed keeps: the ResNet generator of Johnson et al. (ECCV 2016) as used by CycleGAN (Zhu et al., ICCV 2017:
      6 residual blocks, 64 filters, instance normalisation), a U-Net predictor on the concatenated previous frames,
      and the 70 x 70 PatchGAN of Isola et al. (CVPR 2017).

Every network works on one ``xy`` slice (``spatial_dims=2``, the frames of the Recycle-GAN) and maps to ``[-1, 1]``
(``tanh``), the range both domains are scaled to. Widths are parameters: the defaults here are small enough to train
on a CPU (``features=16`` for the generator and the discriminator, ``(16, 32, 64, 128)`` for the predictor); the
paper's reference setting is 64 for the generator and the discriminator and ``(64, 128, 256, 512, ...)`` for the
predictor.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.layers.factories import Conv, Norm
from monai.networks.nets import PatchDiscriminator, UNet

from .padding import crop_spatial, divisible_padding

__all__ = ["PatchGANDiscriminator", "ResNetGenerator", "SlicePredictor", "SliceWise"]


def _conv_norm_relu(
    spatial_dims: int, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, transposed: bool = False
) -> nn.Sequential:
    """Convolution (reflection padding for odd kernels at stride 1), instance normalisation, ReLU."""
    if transposed:
        conv = Conv[Conv.CONVTRANS, spatial_dims](in_channels, out_channels, kernel_size, 2, 1, output_padding=1)
    else:
        mode = "reflect" if stride == 1 else "zeros"
        conv = Conv[Conv.CONV, spatial_dims](in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                                             padding_mode=mode)  # fmt: skip
    return nn.Sequential(conv, Norm[Norm.INSTANCE, spatial_dims](out_channels), nn.ReLU(inplace=True))


class _ResidualBlock(nn.Module):
    """``x + IN(conv3(ReLU(IN(conv3(x)))))`` with reflection padding (Johnson et al. 2016, as in CycleGAN)."""

    def __init__(self, spatial_dims: int, channels: int) -> None:
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        self.body = nn.Sequential(
            conv(channels, channels, 3, 1, 1, padding_mode="reflect"),
            Norm[Norm.INSTANCE, spatial_dims](channels),
            nn.ReLU(inplace=True),
            conv(channels, channels, 3, 1, 1, padding_mode="reflect"),
            Norm[Norm.INSTANCE, spatial_dims](channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetGenerator(nn.Module):
    """ResNet generator of CycleGAN / Recycle-GAN (G1 and G2 of seed 001).

    ``c7s1-f, d2f, d4f, R4f x num_blocks, u2f, uf, c7s1-out, tanh``: a ``7x7`` convolution, ``num_downsamplings``
    stride-2 ``3x3`` convolutions doubling the width, ``num_blocks`` residual blocks, as many stride-2 transposed
    convolutions back, and a ``7x7`` convolution to ``out_channels``; instance normalisation and ReLU after every
    convolution but the last. Inputs whose spatial size is not a multiple of ``2 ** num_downsamplings`` are padded
    (replicate) and the output cropped back, so the output has the input's spatial shape.

    Parameter counts (2D, one channel in and out, 6 blocks): 0.49 M with ``features=16`` (the default), 1.96 M with
    32, 7.8 M with 64 (the paper's).

    Args:
        spatial_dims: 2 (one slice, as in the paper) or 3.
        in_channels: input channels ``C_in``.
        out_channels: output channels ``C_out``.
        features: width of the first convolution ``f``.
        num_blocks: residual blocks (6 in the paper).
        num_downsamplings: stride-2 steps (2 in the paper).

    Shapes:
        ``(B, C_in, [D,] H, W)`` -> ``(B, C_out, [D,] H, W)`` in ``[-1, 1]``.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        features: int = 16,
        num_blocks: int = 6,
        num_downsamplings: int = 2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_norm_relu(spatial_dims, in_channels, features, 7)]
        width = features
        for _ in range(num_downsamplings):
            layers.append(_conv_norm_relu(spatial_dims, width, 2 * width, 3, stride=2))
            width *= 2
        layers += [_ResidualBlock(spatial_dims, width) for _ in range(num_blocks)]
        for _ in range(num_downsamplings):
            layers.append(_conv_norm_relu(spatial_dims, width, width // 2, 3, transposed=True))
            width //= 2
        layers += [Conv[Conv.CONV, spatial_dims](width, out_channels, 7, 1, 3, padding_mode="reflect"), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.divisor = 2**num_downsamplings

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial_shape = list(x.shape[2:])
        x = F.pad(x, divisible_padding(spatial_shape, self.divisor), mode="replicate")
        return crop_spatial(self.model(x), spatial_shape)


class SlicePredictor(nn.Module):
    """Predictor P1 / P2 of seed 001: the next slice from the ``S`` previous ones stacked as channels.

    A MONAI :class:`~monai.networks.nets.UNet` (stride-2 convolutions down, transposed convolutions up, instance
    normalisation, concatenation skips) from ``num_slices`` channels to one, then ``tanh``; any spatial size (padded
    to a multiple of ``2 ** (len(features) - 1)`` and cropped back).

    Parameter counts (2D, ``num_slices=10``): 0.16 M with ``features=(16, 32, 64, 128)`` (the default), 2.6 M with
    ``(64, 128, 256, 512)``.

    Args:
        spatial_dims: 2 (one slice) or 3.
        num_slices: ``S``, the number of previous slices (10 in the paper).
        features: channels per U-Net level.

    Shapes:
        ``(B, S, [D,] H, W)`` (slices ``p .. p + S - 1`` of a volume in order) -> ``(B, 1, [D,] H, W)`` (slice
        ``p + S``) in ``[-1, 1]``.
    """

    def __init__(
        self, spatial_dims: int = 2, num_slices: int = 10, features: Sequence[int] = (16, 32, 64, 128)
    ) -> None:
        super().__init__()
        self.unet = UNet(
            spatial_dims=spatial_dims,
            in_channels=num_slices,
            out_channels=1,
            channels=tuple(features),
            strides=(2,) * (len(features) - 1),
            norm=Norm.INSTANCE,
        )
        self.divisor = 2 ** (len(features) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial_shape = list(x.shape[2:])
        x = F.pad(x, divisible_padding(spatial_shape, self.divisor), mode="replicate")
        return torch.tanh(crop_spatial(self.unet(x), spatial_shape))


class PatchGANDiscriminator(PatchDiscriminator):
    """The 70 x 70 PatchGAN (D1 / D2 of seed 001): MONAI's :class:`~monai.networks.nets.PatchDiscriminator` with
    ``4x4`` layers (three of stride 2, two of stride 1), instance normalisation and leaky ReLU (slope 0.2), returning
    only the last map.

    Args:
        spatial_dims: 2 (one slice) or 3.
        in_channels: input channels.
        features: width of the first layer (64 in the paper); layers double it.

    Shapes:
        ``(B, C, H, W)`` -> ``(B, 1, H / 8 - 2, W / 8 - 2)`` (H, W multiples of 8) real/fake scores, each seeing a
        70 x 70 patch.
    """

    def __init__(self, spatial_dims: int = 2, in_channels: int = 1, features: int = 16) -> None:
        super().__init__(
            spatial_dims=spatial_dims, channels=features, in_channels=in_channels, num_layers_d=3, norm="INSTANCE"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x)[-1]


class SliceWise(nn.Module):
    """Apply a 2D network to every ``xy`` slice of a volume: how the trained G1 turns a whole phantom into I_syn.

    Args:
        network: a 2D network ``(N, C_in, H, W)`` -> ``(N, C_out, H', W')``.

    Shapes:
        ``(B, C_in, Z, H, W)`` -> ``(B, C_out, Z, H', W')``.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, depth = x.shape[0], x.shape[1], x.shape[2]
        slices = x.permute(0, 2, 1, 3, 4).reshape(batch * depth, channels, x.shape[3], x.shape[4])
        output = self.network(slices)
        output = output.reshape(batch, depth, output.shape[1], output.shape[2], output.shape[3])
        return output.permute(0, 2, 1, 3, 4)
