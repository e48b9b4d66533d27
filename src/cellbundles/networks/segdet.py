"""Joint segmentation and detection network of seed 000 (``SegDetNet``).

Reference:
    Joint 3D cell nuclei segmentation and centroid detection with a serial network: a U-Net
    segmentation stage followed by a density regression stage, trained end to end, with
    test-time dropout for uncertainty (seed 000, sections 2.1-2.2 and 3.3).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from monai.networks.layers.factories import Conv, Pool

from .padding import crop_spatial, divisible_padding

__all__ = ["SegDetNet", "split_segdet_output"]

_DENSITY_ACTIVATIONS = ("relu", "softplus", "identity")
_DETECTION_INPUTS = ("segmentation", "features")


def _double_conv(spatial_dims: int, in_channels: int, out_channels: int, norm: str | tuple) -> nn.Sequential:
    """Two ``3x3(x3)`` convolutions, each followed by normalisation then ReLU (same padding)."""
    return nn.Sequential(
        Convolution(spatial_dims, in_channels, out_channels, kernel_size=3, act="relu", norm=norm, bias=False),
        Convolution(spatial_dims, out_channels, out_channels, kernel_size=3, act="relu", norm=norm, bias=False),
    )


def _up_conv(spatial_dims: int, in_channels: int, out_channels: int) -> nn.Module:
    """Learned ``2x2(x2)`` transposed convolution with stride 2 (the paper's "UnConv")."""
    return Conv[Conv.CONVTRANS, spatial_dims](in_channels, out_channels, kernel_size=2, stride=2)


class SegDetNet(nn.Module):
    """Serial segmentation + detection network for nuclei (seed 000, Fig. 1).

    Stage 1 is a U-Net with three down/up steps: two ``3x3x3`` convolutions per level (batch
    normalisation before each ReLU), ``2x2x2`` max pooling, ``2x2x2`` transposed-convolution
    up-sampling, concatenation skips and a ``1x1x1`` convolution to ``seg_channels`` logits ``S``.
    Dropout (rate ``dropout``, element-wise ``nn.Dropout``) sits at the end of the contracting path,
    on the outputs of the deepest encoder level and of the bottleneck, where the original U-Net
    (reference [12] of the paper) places it; the paper states the rate (0.5) but not the place.
    Stage 2 (detection) takes ``[image, softmax(S)]`` through three ``3x3x3`` convolutions (batch
    normalisation, ReLU) and a ``1x1x1`` convolution to one density channel ``D``.

    Departures from the paper, on purpose:

    - same padding instead of valid convolutions (the paper maps ``72x72x48`` patches to
      ``32x32x8`` outputs), so that MONAI sliding-window inference can tile any volume; inputs
      whose spatial size is not a multiple of 8 are padded (replicate) inside ``forward`` and the
      output is cropped back, so the output always has the input's spatial shape;
    - default widths ``(16, 32, 64, 128)`` so that the model trains on a CPU; the paper's text does
      not list its widths, its 3D U-Net reference (Cicek et al. 2016) uses about
      ``(64, 128, 256, 512)``, which is the reference setting.

    Density constraint: the paper requires ``D >= 0``. ``density_activation="relu"`` (default)
    gives exact zeros in the background, so the count (the integral of ``D``) is not biased by a
    positive floor; ``"softplus"`` never blocks gradients but leaves a small positive value on every
    voxel (a count bias on large volumes); ``"identity"`` leaves ``D`` unconstrained.

    Density scale: target peaks are tiny (a unit-mass Gaussian of sigma 1 um at 0.8 x 0.5 x 0.5 um
    voxels peaks at 0.013), too fine for the step size of Adam on the last convolution. ``forward``
    therefore divides the head's output by ``density_scale``: ``D`` keeps its physical meaning (it
    integrates to the count, thresholds stay in density units) while the head works on values about
    ``density_scale`` times larger. On phantoms (widths ``(8, 16, 32, 64)``, 300 Adam steps at lr 1e-3,
    batch 2 of 32x48x48, peak threshold 0.004) the default 1000 found all 18 test nuclei at
    precision 0.86, an unscaled ReLU head 7 of 18 at precision 0.03, and an unscaled
    ``"identity"`` head predicted a negative count.

    Detection receptive field: the three ``3x3x3`` convolutions of stage 2 see ``7^3`` voxels, less than a
    nucleus at the training scale (13 voxels across in x and y), so inside a mask that merges touching nuclei
    they cannot tell a centre from a point beside it. ``detection_dilations`` (default ``(1, 1, 1)``, the
    paper's) dilates them; ``(1, 2, 4)`` widens the view to ``15^3`` voxels with the same weights.
    ``detection_input="features"`` also gives stage 2 the ``features[0]`` channels of the last decoder
    level, which see the whole U-Net's field of view (``"segmentation"``, the default, is the paper's
    ``[image, softmax(S)]``); the extra input channels come after the paper's ones, so weights of the
    paper's head load into the first ones.

    Distance output (our addition, off by default): ``distance_output=True`` adds a head on the last decoder
    level (two ``3x3x3`` convolutions of width ``2 * features[0]``, the second dilated by 2, then ``1x1x1``)
    that predicts, as a logit, each nucleus voxel's distance to its own nucleus' boundary divided by that
    nucleus' largest distance (:func:`cellbundles.postprocess.normalised_distance`, StarDist's
    object probability). Unlike the density head it sees the whole U-Net's field of view, and it falls to zero
    where two nuclei touch, so its maxima can seed one instance per nucleus.

    Parameter counts (3D, ``in_channels=1``, ``seg_channels=2``): 1.42 M with the default
    ``features=(16, 32, 64, 128)``, 0.355 M with ``(8, 16, 32, 64)``, 5.66 M with
    ``(32, 64, 128, 256)``, 22.6 M with ``(64, 128, 256, 512)``.

    Args:
        spatial_dims: number of spatial dimensions, 2 or 3.
        in_channels: number of image channels.
        seg_channels: number of segmentation classes (2: background, nucleus).
        features: widths of the four U-Net levels (three down/up steps).
        detection_features: width of the three detection convolutions; ``features[0]`` if None.
        dropout: dropout rate at the end of the contracting path (paper: 0.5).
        density_activation: ``"relu"``, ``"softplus"`` or ``"identity"``, see above.
        density_scale: divisor of the detection head's output, see above (1 = plain head).
        detection_dilations: dilation of each of the three detection convolutions, see above.
        detection_input: ``"segmentation"`` or ``"features"``, see above.
        distance_output: add the normalised-distance channel, see above.
        norm: MONAI normalisation name or ``(name, args)``; the paper uses batch normalisation.

    Returns (``forward``):
        one tensor ``(B, seg_channels + 1, [D,] H, W)``: channels ``[S_0, ..., S_{k-1}, D]``, the
        segmentation logits followed by the density (with ``distance_output``, ``seg_channels + 2`` channels:
        the distance logit last). A single tensor is what MONAI's
        sliding-window inference, ``SupervisedTrainer`` and TorchScript export handle best; use
        :func:`split_segdet_output` to take it apart.

    TorchScript: ``torch.jit.script`` keeps the padding logic and accepts any size;
    ``torch.jit.trace`` records the padding of its example input, so trace with sizes that are
    multiples of 8 (as sliding-window patches are) and feed such sizes.
    """

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        seg_channels: int = 2,
        features: Sequence[int] = (16, 32, 64, 128),
        detection_features: int | None = None,
        dropout: float = 0.5,
        density_activation: str = "relu",
        density_scale: float = 1000.0,
        detection_dilations: Sequence[int] = (1, 1, 1),
        detection_input: str = "segmentation",
        distance_output: bool = False,
        norm: str | tuple = "batch",
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
        features = tuple(int(f) for f in features)
        if len(features) != 4 or min(features) < 1:
            raise ValueError(f"features must hold four positive widths (three down/up steps), got {features}.")
        if seg_channels < 2:
            raise ValueError(f"seg_channels must be at least 2, got {seg_channels}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        if density_scale <= 0:
            raise ValueError(f"density_scale must be positive, got {density_scale}.")
        if density_activation not in _DENSITY_ACTIVATIONS:
            raise ValueError(f"density_activation must be one of {_DENSITY_ACTIVATIONS}, got {density_activation!r}.")
        det_features = features[0] if detection_features is None else int(detection_features)
        dilations = tuple(int(d) for d in detection_dilations)
        if len(dilations) != 3 or min(dilations) < 1:
            raise ValueError(f"detection_dilations must hold three positive dilations, got {dilations}.")
        if detection_input not in _DETECTION_INPUTS:
            raise ValueError(f"detection_input must be one of {_DETECTION_INPUTS}, got {detection_input!r}.")

        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.seg_channels = seg_channels
        self.distance_output = bool(distance_output)
        self.out_channels = seg_channels + 1 + int(self.distance_output)
        self.size_divisor = 2**3

        f0, f1, f2, f3 = features
        self.encoder0 = _double_conv(spatial_dims, in_channels, f0, norm)
        self.encoder1 = _double_conv(spatial_dims, f0, f1, norm)
        self.encoder2 = _double_conv(spatial_dims, f1, f2, norm)
        self.bottleneck = _double_conv(spatial_dims, f2, f3, norm)
        self.pool = Pool[Pool.MAX, spatial_dims](kernel_size=2)
        self.encoder_dropout = nn.Dropout(dropout)
        self.bottleneck_dropout = nn.Dropout(dropout)
        self.up2 = _up_conv(spatial_dims, f3, f2)
        self.decoder2 = _double_conv(spatial_dims, 2 * f2, f2, norm)
        self.up1 = _up_conv(spatial_dims, f2, f1)
        self.decoder1 = _double_conv(spatial_dims, 2 * f1, f1, norm)
        self.up0 = _up_conv(spatial_dims, f1, f0)
        self.decoder0 = _double_conv(spatial_dims, 2 * f0, f0, norm)
        self.segmentation_head = Convolution(spatial_dims, f0, seg_channels, kernel_size=1, conv_only=True)
        self.distance_head = nn.Identity()
        if self.distance_output:
            self.distance_head = nn.Sequential(
                *(
                    Convolution(spatial_dims, c_in, c_out, kernel_size=3, dilation=d, act="relu", norm=norm, bias=False)
                    for c_in, c_out, d in ((f0, 2 * f0, 1), (2 * f0, 2 * f0, 2))
                ),
                Convolution(spatial_dims, 2 * f0, 1, kernel_size=1, conv_only=True),
            )

        self.detection_input = detection_input
        head_inputs = in_channels + seg_channels + (f0 if detection_input == "features" else 0)
        widths = (head_inputs, det_features, det_features, det_features)
        self.detection_head = nn.Sequential(
            *(
                Convolution(spatial_dims, c_in, c_out, kernel_size=3, dilation=d, act="relu", norm=norm, bias=False)
                for c_in, c_out, d in zip(widths[:-1], widths[1:], dilations)
            ),
            Convolution(spatial_dims, det_features, 1, kernel_size=1, conv_only=True),
        )
        activations = {"relu": nn.ReLU(), "softplus": nn.Softplus(), "identity": nn.Identity()}
        self.density_activation = activations[density_activation]
        self.density_scale = float(density_scale)
        self._init_weights()

    def _init_weights(self) -> None:
        """He-normal convolution weights and zero biases (the paper initialises biases with zero)."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Segmentation logits and density of ``x`` ``(B, in_channels, [D,] H, W)``.

        Returns:
            ``(B, out_channels, [D,] H, W)``: logits ``S``, density ``D`` and, with ``distance_output``, the
            distance logit.
        """
        spatial_shape = list(x.shape[2:])
        pads = divisible_padding(spatial_shape, self.size_divisor)
        if sum(pads) > 0:
            x = F.pad(x, pads, mode="replicate")

        e0 = self.encoder0(x)
        e1 = self.encoder1(self.pool(e0))
        e2 = self.encoder_dropout(self.encoder2(self.pool(e1)))
        bottom = self.bottleneck_dropout(self.bottleneck(self.pool(e2)))
        d2 = self.decoder2(torch.cat([self.up2(bottom), e2], dim=1))
        d1 = self.decoder1(torch.cat([self.up1(d2), e1], dim=1))
        d0 = self.decoder0(torch.cat([self.up0(d1), e0], dim=1))
        seg_logits = self.segmentation_head(d0)

        head_inputs = [x, torch.softmax(seg_logits, dim=1)]
        if self.detection_input == "features":
            head_inputs.append(d0)
        detection_input = torch.cat(head_inputs, dim=1)
        density = self.density_activation(self.detection_head(detection_input)) / self.density_scale
        outputs = [seg_logits, density]
        if self.distance_output:
            outputs.append(self.distance_head(d0))
        return crop_spatial(torch.cat(outputs, dim=1), spatial_shape)


def split_segdet_output(
    output: torch.Tensor, seg_channels: int = 2, channel_dim: int = 1, distance_output: bool = False
) -> tuple[torch.Tensor, ...]:
    """Split a :class:`SegDetNet` output into segmentation logits, density and (optionally) distance logit.

    Args:
        output: ``(B, C, [D,] H, W)``, or ``(C, [D,] H, W)`` with ``channel_dim=0`` (a decollated item), with
            ``C = seg_channels + 1`` (``+ 1`` with ``distance_output``).
        seg_channels: number of segmentation channels in front of the density channel.
        channel_dim: the channel axis.
        distance_output: the output has the distance channel of ``SegDetNet(distance_output=True)``.

    Returns:
        ``(seg_logits, density)`` with ``seg_channels`` and 1 channels, and the 1-channel distance logit
        with ``distance_output``.
    """
    channels = seg_channels + 1 + int(distance_output)
    if output.shape[channel_dim] != channels:
        what = "segmentation logits + density" + (" + distance" if distance_output else "")
        raise ValueError(f"expected {channels} channels ({what}) on dim {channel_dim}, got {tuple(output.shape)}.")
    parts = (output.narrow(channel_dim, 0, seg_channels), output.narrow(channel_dim, seg_channels, 1))
    return (*parts, output.narrow(channel_dim, seg_channels + 1, 1)) if distance_output else parts
