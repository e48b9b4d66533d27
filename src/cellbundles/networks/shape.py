"""M1 and M2 of seed 001: two 3D U-Nets, one segmenting nuclei, one predicting their shape marker.

Reference:
    Seed 001, section 2.2 and Fig. 2: a "modified 3D U-Net" (3x3x3 convolutions, batch normalisation, ReLU,
    2x2x2 max pooling, transposed-convolution upsampling, concatenation skips); M1 maps a volume to the nucleus
    segmentation I_seg, M2 to the shape image I_shape (the ellipticity marker I_shapemarker of the training pairs).

Both networks are MONAI ``BasicUNet`` s with the paper's layer types; :class:`SegShapeNet` holds them side by side
so that a bundle has one network, one weights file and one output: channel 0 the segmentation logit of M1,
channel 1 the shape-marker logit of M2 (sigmoid: the marker / 255, 1 for a sphere).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from monai.networks.nets import BasicUNet

__all__ = ["SegShapeNet"]


class SegShapeNet(nn.Module):
    """M1 (segmentation) and M2 (shape marker) 3D U-Nets applied to the same input (module docstring).

    Args:
        spatial_dims: number of spatial dimensions (3 for this method).
        in_channels: image channels.
        features: the six widths of each ``BasicUNet`` (four poolings; the last is the decoder's output width).
            The seed's Fig. 2 gives no legible widths; Cicek et al.'s 3D U-Net, which it modifies, uses
            32-64-128-256-512.
        dropout: dropout of the U-Net blocks.

    Returns (forward):
        ``(B, 2, *spatial)`` logits: channel 0 nucleus (M1), channel 1 shape marker (M2).
    """

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        features: Sequence[int] = (8, 16, 32, 64, 128, 8),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        options = dict(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=1, features=tuple(features),
                       act="relu", norm="batch", dropout=dropout, upsample="deconv")  # fmt: skip
        self.segmentation = BasicUNet(**options)
        self.shape = BasicUNet(**options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.segmentation(x), self.shape(x)], dim=1)
