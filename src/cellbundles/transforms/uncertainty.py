"""Per-nucleus test-time-dropout uncertainty as a post-processing transform (seed 000, section 3.3)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import torch
import torch.nn as nn
from monai.config import KeysCollection, NdarrayOrTensor
from monai.data import MetaTensor
from monai.inferers import Inferer
from monai.transforms import MapTransform
from monai.utils import ensure_tuple_rep

from cellbundles.engines.mc_dropout import MCDropoutInferer
from cellbundles.postprocess import BatchDensityPeaks, flag_most_uncertain, mc_uncertainty_radii

from .utils import resolve_spacing

__all__ = ["MCDropoutUncertaintyD", "MCDropoutUncertaintyDict", "MCDropoutUncertaintyd"]


class MCDropoutUncertaintyd(MapTransform):
    """Radius of the confidence volume of every detected nucleus from Monte-Carlo dropout passes.

    For a decollated item, runs :class:`cellbundles.engines.MCDropoutInferer` on the image
    (``num_passes`` passes with only dropout active, each reduced at once to its density peaks, so
    memory stays that of one pass), then :func:`cellbundles.postprocess.mc_uncertainty_radii` for
    the centroids already found without dropout (``data[peaks_key]``, e.g. from
    :class:`DensityPeaksd` with the same ``threshold`` and ``min_distance_um``; the evaluator's own
    forward pass is the dropout-free prediction, so none is run here), and optionally
    :func:`cellbundles.postprocess.flag_most_uncertain`. Place it in an evaluator's
    ``postprocessing`` after the centroids are computed.

    Args:
        keys: key(s) of the ``(C, [D,] H, W)`` input image.
        network: the trained network (with dropout layers); its modes are restored afterwards.
        threshold: peak threshold of each pass (as for the centroids).
        min_distance_um: minimum peak distance of each pass (as for the centroids).
        peaks_key: key of the ``(M, D)`` centroids found without dropout.
        radii_keys: output keys of the ``(M,)`` radii, in physical units: measured in the image's own voxel size
            (its ``MetaTensor`` affine; ``spacing`` for a plain array), also where ``spacing`` is the network grid of
            a volume scaled to the nucleus size.
        flag_keys: output keys of the ``(M,)`` booleans marking the ``flag_fraction`` most uncertain; None: not stored.
        num_passes: number of dropout passes (paper: 100).
        inferer: inferer of each pass (e.g. the bundle's ``SlidingWindowInferer``); simple inference if None.
        density_channel: index of the density channel in the network output.
        spacing: voxel spacing of each pass's peak search (``min_distance_um``); None: the ``pixdim`` of the image
            MetaTensor.
        quantile: confidence level (paper: 0.9).
        gating_radius_um: see :func:`cellbundles.postprocess.mc_uncertainty_radii` (physical units, as the radii).
        flag_fraction: share of peaks flagged as most uncertain (paper: 0.1).
        seed: seed of the dropout masks; None: current random state.
        device: device of the network input; None: the device of the network's parameters.
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        network: nn.Module,
        threshold: float,
        min_distance_um: float,
        peaks_key: str = "centroids",
        radii_keys: KeysCollection = "uncertainty",
        flag_keys: KeysCollection | None = "uncertain",
        num_passes: int = 100,
        inferer: Inferer | None = None,
        density_channel: int = -1,
        spacing: Sequence[float] | float | None = None,
        quantile: float = 0.9,
        gating_radius_um: float | None = None,
        flag_fraction: float = 0.1,
        seed: int | None = None,
        device: str | torch.device | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.network = network
        self.peaks_key = peaks_key
        self.radii_keys = ensure_tuple_rep(radii_keys, len(self.keys))
        self.flag_keys = ensure_tuple_rep(flag_keys, len(self.keys))
        self.num_passes = num_passes
        self.inferer = inferer
        self.threshold = threshold
        self.min_distance_um = min_distance_um
        self.density_channel = density_channel
        self.spacing = spacing
        self.quantile = quantile
        self.gating_radius_um = gating_radius_um
        self.flag_fraction = flag_fraction
        self.seed = seed
        self.device = device

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, radii_key, flag_key in self.key_iterator(d, self.radii_keys, self.flag_keys):
            image = d[key]
            spacing = resolve_spacing(image, self.spacing, image.ndim - 1, name=str(key))
            physical_spacing = spacing
            if isinstance(image, MetaTensor):  # the image's own voxel size, also where ``spacing`` is the network grid's
                physical_spacing = resolve_spacing(image, None, image.ndim - 1, name=str(key))
            device = self.device or next(self.network.parameters()).device
            mc_inferer = MCDropoutInferer(
                num_passes=self.num_passes,
                inferer=self.inferer,
                pass_transform=BatchDensityPeaks(self.threshold, self.min_distance_um, spacing, self.density_channel),
                seed=self.seed,
                reference_pass=False,
            )
            passes = mc_inferer(torch.as_tensor(image)[None].to(device), self.network)["mc_passes"]
            radii = mc_uncertainty_radii(
                d[self.peaks_key], [peaks[0] for peaks in passes], physical_spacing, self.quantile, self.gating_radius_um
            )
            d[radii_key] = radii
            if flag_key is not None:
                d[flag_key] = flag_most_uncertain(radii, self.flag_fraction)
        return d


MCDropoutUncertaintyD = MCDropoutUncertaintyDict = MCDropoutUncertaintyd
