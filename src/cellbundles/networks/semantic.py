"""The three semantic segmentation networks benchmarked by seed 003: simple CNN, ResNet FCN, U-Net.

Reference:
    Seed 003, a benchmark of deep learning methods for cell nuclei segmentation on the 2018 Data
    Science Bowl (DSB2018 / BBBC038) data: a simple CNN predicting three classes per pixel
    (nucleus, border, background), a ResNet and a U-Net (Table 1 and Methods), compared with Mask R-CNN
    (the ``nuclei_maskrcnn_2d`` bundle).

A bundle picks the variant with one id, ``semantic_network(network_name, ...)``, ``network_name`` in
:data:`SEMANTIC_NETWORKS`. Every variant maps ``(B, in_channels, [D,] H, W)`` to
``(B, out_channels, [D,] H, W)`` logits of the input size (default ``out_channels=3``: the
background / nucleus interior / border classes of :class:`cellbundles.transforms.InstancesToThreeClass`)
and is TorchScript (``torch.jit.script``) exportable.

Parameter counts at the default widths (2D, ``in_channels=1``, ``out_channels=3``), as
:func:`count_parameters` gives them:

==============  ==============================================  ==========
name            network                                         parameters
==============  ==============================================  ==========
``simple_cnn``  :class:`SimpleCNN`, six dense layers of 64          22,661
``resnet_fcn``  :class:`ResNetFCN`, ResNet-18 encoder           11,172,937
``unet``        :func:`semantic_unet`, widths 16-32-64-128-256   1,948,163
==============  ==============================================  ==========
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.layers.factories import Conv, Norm
from monai.networks.layers.utils import get_act_layer
from monai.networks.nets import BasicUNet

from .residual_encoder import ResidualEncoder

__all__ = ["SEMANTIC_NETWORKS", "ResNetFCN", "SimpleCNN", "count_parameters", "semantic_network", "semantic_unet"]


class SimpleCNN(nn.Module):
    """The "simple CNN" of seed 003: per-pixel dense layers and one ``3x3`` convolution, 3 classes.

    The paper's eight layers are one batch normalisation of the input, six fully connected (dense)
    layers with sigmoid activations and a 2D convolutional output layer (kernel ``3x3``, sigmoid)
    predicting nucleus, border and background for every pixel. Dense layers applied to an image
    tensor act on each pixel's channel vector (as Keras ``Dense`` does on ``(B, H, W, C)``), so they
    are ``1x1`` convolutions here; the receptive field is therefore the ``3x3`` of the last layer.
    The paper does not give the dense widths: the default is 64 each. The output is logits (apply
    the sigmoid, or a softmax, in the loss and post-processing).

    Args:
        spatial_dims: number of spatial dimensions (2 for this method; 3 also works).
        in_channels: number of image channels.
        out_channels: number of classes (paper: 3).
        features: widths of the dense (``1x1``) layers (paper: six layers).
        act: activation after each dense layer, a MONAI activation name or ``(name, args)`` (paper: sigmoid).
        kernel_size: kernel size of the output convolution (paper: 3).
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 3,
        features: Sequence[int] = (64, 64, 64, 64, 64, 64),
        act: str | tuple = "sigmoid",
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        features = [int(f) for f in features]
        if not features or min(features) < 1:
            raise ValueError(f"features must hold at least one positive width, got {features}.")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}.")
        conv = Conv[Conv.CONV, spatial_dims]
        layers: list[nn.Module] = [Norm[Norm.BATCH, spatial_dims](in_channels)]
        for in_width, out_width in zip([in_channels, *features[:-1]], features):
            layers += [conv(in_width, out_width, kernel_size=1), get_act_layer(act)]
        layers.append(conv(features[-1], out_channels, kernel_size=kernel_size, padding=kernel_size // 2))
        self.layers = nn.Sequential(*layers)
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, out_channels, [D,] H, W)`` logits of ``x`` ``(B, in_channels, [D,] H, W)``."""
        return self.layers(x)


class ResNetFCN(nn.Module):
    """ResNet encoder with FCN-8s style up-sampling and skip fusion (the "ResNet" of seed 003).

    The encoder is :class:`~cellbundles.networks.residual_encoder.ResidualEncoder`. A ``1x1``
    convolution scores the outputs of the stride-32, 16 and 8 stages; the stride-32 scores are
    up-sampled (bilinear) to the stride-16 map and added to its scores, the sum up-sampled to the
    stride-8 map and added to its scores, and the result up-sampled to the input size (Long,
    Shelhamer and Darrell, "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015).

    Departures from the paper, on purpose: the paper fine-tunes a COCO-pretrained ResNet-152;
    nothing is downloaded here and the default encoder is ResNet-18 (``blocks=(2, 2, 2, 2)``,
    basic blocks), 11.2 M parameters instead of 58.1 M (with 3 classes), trained from scratch;
    ``blocks=(3, 8, 36, 3), block="bottleneck"`` builds the ResNet-152 layout. Bilinear up-sampling
    replaces FCN's learned (bilinear-initialised) transposed convolutions, so that any input size
    works without cropping offsets.

    Args:
        spatial_dims: number of spatial dimensions (2 for this method; 3 also works).
        in_channels: number of image channels.
        out_channels: number of classes.
        features: widths of the four residual stages.
        blocks: residual blocks per stage.
        block: ``"basic"`` or ``"bottleneck"``.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 3,
        features: Sequence[int] = (64, 128, 256, 512),
        blocks: Sequence[int] = (2, 2, 2, 2),
        block: str = "basic",
    ) -> None:
        super().__init__()
        self.encoder = ResidualEncoder(spatial_dims, in_channels, features, blocks, block)
        conv = Conv[Conv.CONV, spatial_dims]
        _, _, stride8, stride16, stride32 = self.encoder.feature_channels
        self.score8 = conv(stride8, out_channels, kernel_size=1)
        self.score16 = conv(stride16, out_channels, kernel_size=1)
        self.score32 = conv(stride32, out_channels, kernel_size=1)
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.upsample_mode = "bilinear" if spatial_dims == 2 else "trilinear"

    def _upsample(self, x: torch.Tensor, size: list[int]) -> torch.Tensor:
        return F.interpolate(x, size=size, mode=self.upsample_mode, align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, out_channels, [D,] H, W)`` logits of ``x`` ``(B, in_channels, [D,] H, W)``."""
        features = self.encoder(x)
        scores = self.score32(features[4])
        scores = self._upsample(scores, list(features[3].shape[2:])) + self.score16(features[3])
        scores = self._upsample(scores, list(features[2].shape[2:])) + self.score8(features[2])
        return self._upsample(scores, list(x.shape[2:]))


def semantic_unet(
    spatial_dims: int = 2,
    in_channels: int = 1,
    out_channels: int = 3,
    features: Sequence[int] = (16, 32, 64, 128, 256, 16),
    act: str | tuple = "elu",
    norm: str | tuple | None = "batch",
    dropout: float = 0.0,
) -> BasicUNet:
    """The U-Net of seed 003, as MONAI's ``BasicUNet``.

    The paper's U-Net has 19 convolutions and 4 transposed convolutions with ELU activations and a
    sigmoid output: four down/up steps with two ``3x3`` convolutions per level (5 x 2 in the
    encoder, 4 x 2 in the decoder) and a ``1x1`` output convolution, which is ``BasicUNet`` with
    ``upsample="deconv"``. The paper also mentions "6 pooling layers", which does not fit its four
    transposed convolutions; we follow the four. The widths are not given: the default
    ``16-32-64-128-256`` is the usual choice of DSB2018 U-Nets. No normalisation layer is mentioned,
    but without one (``norm=None``) the network collapsed to all-background within 4 epochs on
    DSB2018 (Adam lr 1e-3, Dice + CE, validation pixel IoU 0 at every epoch), so the default adds
    batch normalisation after each convolution; ``BasicUNet`` pads odd sizes itself. The output is logits.

    Args:
        spatial_dims: number of spatial dimensions (2 for this method).
        in_channels: number of image channels.
        out_channels: number of classes.
        features: ``BasicUNet`` widths: five levels then the last decoder level.
        act: activation (paper: ELU).
        norm: normalisation after each convolution, None for none (paper: none stated; default batch).
        dropout: dropout rate after each convolution.

    Returns:
        a ``monai.networks.nets.BasicUNet``.
    """
    return BasicUNet(
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        out_channels=out_channels,
        features=features,
        act=act,
        norm=norm,
        dropout=dropout,
        upsample="deconv",
    )


_FACTORIES: dict[str, Callable[..., nn.Module]] = {
    "simple_cnn": SimpleCNN,
    "resnet_fcn": ResNetFCN,
    "unet": semantic_unet,
}
SEMANTIC_NETWORKS: tuple[str, ...] = tuple(_FACTORIES)
"""Names accepted by :func:`semantic_network`."""


def semantic_network(
    name: str, spatial_dims: int = 2, in_channels: int = 1, out_channels: int = 3, **kwargs: object
) -> nn.Module:
    """One of the seed 003 networks by name, for bundle configs (``network_name``).

    Args:
        name: ``"simple_cnn"`` (:class:`SimpleCNN`), ``"resnet_fcn"`` (:class:`ResNetFCN`) or
            ``"unet"`` (:func:`semantic_unet`).
        spatial_dims: number of spatial dimensions.
        in_channels: number of image channels.
        out_channels: number of classes (3: background, nucleus interior, border).
        kwargs: further arguments of the chosen network (e.g. ``features``).

    Raises:
        ValueError: for an unknown name.
    """
    if name not in _FACTORIES:
        raise ValueError(f"unknown semantic network {name!r}, expected one of {SEMANTIC_NETWORKS}.")
    return _FACTORIES[name](spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels, **kwargs)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (only those with ``requires_grad`` if ``trainable_only``)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
