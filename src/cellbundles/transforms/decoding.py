"""Post-processing transforms: decollated network outputs to masks, centroids, counts and instance labels.

They act on decollated, channel-first items (as in a MONAI evaluator's ``postprocessing``) and wrap
the plain functions of :mod:`cellbundles.postprocess`.

- ``SegDetNet`` (seed 000), the chain of the ``nuclei_segdet_3d`` bundle: :class:`SplitSegDetOutputd`
  (``pred`` -> ``seg`` logits + ``density``), :class:`ProbabilityMaskd` (``seg`` -> ``mask``: nucleus
  probability at or above a threshold), :class:`DensityCountd` (count), :class:`DensityPeaksd`
  (centroids), :class:`SeededWatershedd` (instances), :class:`GrowInstancesd` (instances grown back
  over the seam a network trained with ``gap_width`` leaves between touching nuclei),
  :class:`TrimInstancesd` (instances cut back to where their nucleus is bright in the image).
- 2D semantic networks (seeds 002 and 003): :class:`InstancesFromBinaryd` (foreground probability ->
  instances) and :class:`InstancesFromThreeClassd` (background / interior / border -> instances).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_numpy, ensure_tuple_rep

from cellbundles.networks.segdet import split_segdet_output
from cellbundles.postprocess import (
    count_from_density,
    find_density_peaks,
    grow_instances,
    instances_from_binary,
    instances_from_three_class,
    seeded_watershed,
    trim_to_intensity,
)

from .utils import resolve_spacing

__all__ = [
    "DensityCountD",
    "DensityCountDict",
    "DensityCountd",
    "DensityPeaksD",
    "DensityPeaksDict",
    "DensityPeaksd",
    "GrowInstancesD",
    "GrowInstancesDict",
    "GrowInstancesd",
    "InstancesFromBinaryD",
    "InstancesFromBinaryDict",
    "InstancesFromBinaryd",
    "InstancesFromThreeClassD",
    "InstancesFromThreeClassDict",
    "InstancesFromThreeClassd",
    "ProbabilityMask",
    "ProbabilityMaskD",
    "ProbabilityMaskDict",
    "ProbabilityMaskd",
    "SeededWatershedD",
    "SeededWatershedDict",
    "SeededWatershedd",
    "SplitSegDetOutputD",
    "SplitSegDetOutputDict",
    "SplitSegDetOutputd",
    "TrimInstancesD",
    "TrimInstancesDict",
    "TrimInstancesd",
]


def _single_channel(value: NdarrayOrTensor, key: Hashable) -> np.ndarray:
    """The spatial array of a one-channel item, or a clear ``ValueError``."""
    if value.ndim < 3 or value.shape[0] != 1:
        raise ValueError(f"{key!r} must be a one-channel item (1, [D,] H, W), got shape {tuple(value.shape)}.")
    return convert_to_numpy(value)[0]


def _nucleus_probability(value: NdarrayOrTensor, key: Hashable, probabilities: bool) -> np.ndarray:
    """The ``([D,] H, W)`` nucleus probability of ``(C >= 2, [D,] H, W)`` logits (channel 1 of their softmax) or,
    with ``probabilities``, of a ``(1, [D,] H, W)`` probability map."""
    values = torch.as_tensor(value).float()
    if probabilities:
        return _single_channel(values, key)
    if values.ndim < 3 or values.shape[0] < 2:
        raise ValueError(f"{key!r} must hold (C >= 2, [D,] H, W) logits, got shape {tuple(values.shape)}.")
    return torch.softmax(values, 0)[1].cpu().numpy()


class SplitSegDetOutputd(MapTransform):
    """Split a decollated ``SegDetNet`` output ``(seg_channels + 1, [D,] H, W)`` into logits and density.

    With ``distance_keys`` the output also holds the distance logit of ``SegDetNet(distance_output=True)``
    (``seg_channels + 2`` channels); it is stored as the sigmoid, the predicted normalised distance in [0, 1].

    Args:
        keys: keys of the network outputs.
        seg_keys: output keys of the ``(seg_channels, [D,] H, W)`` segmentation logits.
        density_keys: output keys of the ``(1, [D,] H, W)`` densities.
        distance_keys: output keys of the ``(1, [D,] H, W)`` normalised distances; None: no distance channel.
        seg_channels: number of segmentation channels.
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        seg_keys: KeysCollection = "seg",
        density_keys: KeysCollection = "density",
        distance_keys: KeysCollection | None = None,
        seg_channels: int = 2,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.seg_keys = ensure_tuple_rep(seg_keys, len(self.keys))
        self.density_keys = ensure_tuple_rep(density_keys, len(self.keys))
        self.distance_keys = ensure_tuple_rep(distance_keys, len(self.keys))
        self.seg_channels = seg_channels

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, seg_key, density_key, distance_key in self.key_iterator(
            d, self.seg_keys, self.density_keys, self.distance_keys
        ):
            parts = split_segdet_output(torch.as_tensor(d[key]), self.seg_channels, 0, distance_key is not None)
            d[seg_key], d[density_key] = parts[:2]
            if distance_key is not None:
                d[distance_key] = torch.sigmoid(parts[2])
        return d


class ProbabilityMask(Transform):
    """Binary foreground mask: softmax probability of the foreground at or above ``threshold``.

    With two classes (background, nucleus) this is the nucleus probability thresholded; a
    ``threshold`` above 0.5 keeps fewer, more certain voxels than the argmax would.

    Args:
        threshold: minimum foreground probability of a mask voxel.
    """

    backend = [TransformBackends.TORCH]

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def __call__(self, logits: NdarrayOrTensor) -> NdarrayOrTensor:
        """
        Args:
            logits: ``(C, [D,] H, W)`` class logits, channel 0 the background.

        Returns:
            ``(C - 1, [D,] H, W)`` masks (0 or 1) of the type and dtype of ``logits`` (a MetaTensor keeps its metadata).
        """
        if logits.ndim < 3 or logits.shape[0] < 2:
            raise ValueError(f"logits must be channel-first with at least 2 classes, got shape {tuple(logits.shape)}.")
        scores = logits if isinstance(logits, torch.Tensor) else torch.as_tensor(logits)
        mask = (torch.softmax(scores, 0)[1:] >= self.threshold).to(scores.dtype)
        return mask if isinstance(logits, torch.Tensor) else convert_to_dst_type(mask, logits)[0]


class ProbabilityMaskd(MapTransform):
    """Dictionary version of :class:`ProbabilityMask`.

    Args:
        keys: keys of the ``(C, [D,] H, W)`` logits.
        threshold: minimum foreground probability of a mask voxel.
        mask_keys: output keys of the masks, one per key; None: replace the logits.
        allow_missing_keys: skip missing keys.
    """

    backend = ProbabilityMask.backend

    def __init__(
        self,
        keys: KeysCollection = "seg",
        threshold: float = 0.5,
        mask_keys: KeysCollection | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.mask_keys = self.keys if mask_keys is None else ensure_tuple_rep(mask_keys, len(self.keys))
        self.converter = ProbabilityMask(threshold)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, mask_key in self.key_iterator(d, self.mask_keys):
            d[mask_key] = self.converter(d[key])
        return d


class DensityPeaksd(MapTransform):
    """Nucleus centroids as density peaks (:func:`cellbundles.postprocess.find_density_peaks`).

    Args:
        keys: keys of the ``(1, [D,] H, W)`` densities.
        threshold: minimum peak value (exclusive); tune it on validation data (a unit Gaussian of
            standard deviation ``sigma`` voxels per axis peaks at ``1 / ((2 pi)^(D/2) prod(sigma))``).
        min_distance_um: minimum distance between peaks, in physical units.
        centroid_keys: output keys of the ``(N, D)`` int64 peak coordinates (voxels, array axis order).
        value_keys: output keys of the ``(N,)`` peak values; None: not stored.
        spacing: voxel spacing; None: the ``pixdim`` of the density MetaTensor.
        support_key: key of a second ``(1, [D,] H, W)`` map on the same grid; a peak (found and
            separated as above) is kept only where this map is above ``support_threshold`` (the ``region`` of
            :func:`~cellbundles.postprocess.find_density_peaks`). None: every peak is kept.
        support_threshold: see ``support_key`` (exclusive).
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        threshold: float,
        min_distance_um: float,
        centroid_keys: KeysCollection = "centroids",
        value_keys: KeysCollection | None = "peak_values",
        spacing: Sequence[float] | float | None = None,
        support_key: str | None = None,
        support_threshold: float = 0.0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.centroid_keys = ensure_tuple_rep(centroid_keys, len(self.keys))
        self.value_keys = ensure_tuple_rep(value_keys, len(self.keys))
        self.threshold = threshold
        self.min_distance_um = min_distance_um
        self.spacing = spacing
        self.support_key = support_key
        self.support_threshold = support_threshold

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, centroid_key, value_key in self.key_iterator(d, self.centroid_keys, self.value_keys):
            density = _single_channel(d[key], key)
            spacing = resolve_spacing(d[key], self.spacing, density.ndim, name=str(key))
            region = None
            if self.support_key is not None:
                support = _single_channel(d[self.support_key], self.support_key)
                if support.shape != density.shape:
                    raise ValueError(
                        f"{self.support_key!r} has shape {support.shape}, {key!r} {density.shape}: not the same grid."
                    )
                region = support > self.support_threshold
            coords, values = find_density_peaks(density, self.threshold, self.min_distance_um, spacing, region)
            d[centroid_key] = coords
            if value_key is not None:
                d[value_key] = values
        return d


class DensityCountd(MapTransform):
    """Estimated number of nuclei, the integral of the density (:func:`cellbundles.postprocess.count_from_density`).

    Args:
        keys: keys of the densities.
        count_keys: output keys of the counts (Python floats).
        region_key: key of a mask of the same shape (e.g. the segmented nuclei) to integrate over;
            None: the whole volume.
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection = "density",
        count_keys: KeysCollection = "count",
        region_key: str | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.count_keys = ensure_tuple_rep(count_keys, len(self.keys))
        self.region_key = region_key

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        region = None if self.region_key is None else convert_to_numpy(d[self.region_key]) > 0
        for key, count_key in self.key_iterator(d, self.count_keys):
            d[count_key] = count_from_density(convert_to_numpy(d[key]), region)
        return d


class SeededWatershedd(MapTransform):
    """Instance labels from a foreground map and centroids (:func:`cellbundles.postprocess.seeded_watershed`).

    Args:
        keys: keys of the ``(1, [D,] H, W)`` foreground probabilities or binary masks.
        seeds_key: key of the ``(N, D)`` centroids (e.g. from :class:`DensityPeaksd`).
        instance_keys: output keys of the ``(1, [D,] H, W)`` int32 instance labels (type and metadata of the input).
        threshold: foreground probability threshold.
        spacing: voxel spacing for the distance transform; None: the ``pixdim`` of the input MetaTensor.
        unseeded: ``"label"`` or ``"drop"`` for foreground components without a seed.
        flood: ``"mask_distance"`` or ``"seed_distance"``, the landscape flooded from the seeds.
        logits_key: with ``"seed_distance"``, key of the ``(C, [D,] H, W)`` segmentation logits whose nucleus
            probability (channel 1 of their softmax) moves the split between touching nuclei to the dip of the
            probability between them; None: the distance to the seeds alone.
        probability_weight: the distance (units of ``spacing``) added where that probability is 0.
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection = "mask",
        seeds_key: str = "centroids",
        instance_keys: KeysCollection = "instances",
        threshold: float = 0.5,
        spacing: Sequence[float] | float | None = None,
        unseeded: str = "label",
        flood: str = "mask_distance",
        logits_key: str | None = None,
        probability_weight: float = 0.0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.seeds_key = seeds_key
        self.instance_keys = ensure_tuple_rep(instance_keys, len(self.keys))
        self.threshold = threshold
        self.spacing = spacing
        self.unseeded = unseeded
        self.flood = flood
        self.logits_key = logits_key
        self.probability_weight = probability_weight

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        probability = None
        if self.logits_key is not None and self.probability_weight > 0:
            probability = _nucleus_probability(d[self.logits_key], self.logits_key, probabilities=False)
        for key, instance_key in self.key_iterator(d, self.instance_keys):
            foreground = _single_channel(d[key], key)
            spacing = resolve_spacing(d[key], self.spacing, foreground.ndim, name=str(key))
            labels = seeded_watershed(foreground, d[self.seeds_key], self.threshold, spacing, self.unseeded, self.flood,
                                      probability, self.probability_weight)  # fmt: skip
            d[instance_key] = convert_to_dst_type(labels[None], d[key], dtype=np.int32)[0]
        return d


class GrowInstancesd(MapTransform):
    """Instances grown into the background where the nucleus probability is high enough
    (:func:`cellbundles.postprocess.grow_instances`): gives back the seam between touching nuclei that a
    network trained on :func:`cellbundles.transforms.seamed_foreground` leaves.

    Args:
        keys: keys of the ``(1, [D,] H, W)`` instance labels (grown in place).
        logits_key: key of the ``(C, [D,] H, W)`` segmentation logits; the nucleus probability is channel 1
            of their softmax.
        probabilities: whether ``logits_key`` holds ``(1, [D,] H, W)`` nucleus probabilities instead of logits
            (a sigmoid head, as in ``nuclei_shape_3d``).
        steps: growth in voxels (0: nothing changes).
        threshold: the nucleus probability a background voxel must exceed to be taken.
        mask_key: key of a ``(1, [D,] H, W)`` binary mask that takes in the grown voxels too, so that the
            instances stay inside it (None: no mask is changed).
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection = "instances",
        logits_key: str = "seg",
        steps: int = 1,
        threshold: float = 0.1,
        mask_key: str | None = None,
        probabilities: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if steps < 0:
            raise ValueError(f"steps must be >= 0 voxels, got {steps}.")
        self.logits_key = logits_key
        self.probabilities = probabilities
        self.steps = steps
        self.threshold = threshold
        self.mask_key = mask_key

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        if self.steps == 0:  # no growth: skip the softmax of the whole volume
            return d
        nucleus = _nucleus_probability(d[self.logits_key], self.logits_key, self.probabilities)
        for key in self.key_iterator(d):
            labels = grow_instances(_single_channel(d[key], key), nucleus, self.steps, self.threshold)
            d[key] = convert_to_dst_type(labels[None], d[key])[0]
            if self.mask_key is not None:
                mask = (_single_channel(d[self.mask_key], self.mask_key) > 0) | (labels > 0)
                d[self.mask_key] = convert_to_dst_type(mask[None], d[self.mask_key])[0]
        return d


class TrimInstancesd(MapTransform):
    """Instances cut back to the voxels where their own nucleus is bright
    (:func:`cellbundles.postprocess.trim_to_intensity`): undoes a mask, or a growth, that spread past the
    blurred edge of isolated nuclei.

    Args:
        keys: keys of the ``(1, [D,] H, W)`` instance labels (trimmed in place).
        image_key: key of the ``(1, [D,] H, W)`` image on the same grid.
        fraction: a voxel stays when the smoothed image there is at least
            ``background + fraction * (instance mean - background)``; 0 changes nothing.
        sigma_voxels: Gaussian smoothing of the image before the comparison, in voxels.
        mask_key: key of a ``(1, [D,] H, W)`` binary mask from which the trimmed voxels are removed too
            (None: no mask is changed).
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection = "instances",
        image_key: str = "image",
        fraction: float = 0.5,
        sigma_voxels: float = 1.0,
        mask_key: str | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}.")
        self.image_key = image_key
        self.fraction = fraction
        self.sigma_voxels = sigma_voxels
        self.mask_key = mask_key

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        if self.fraction == 0:  # off: the image is not needed
            return d
        image = _single_channel(d[self.image_key], self.image_key)
        for key in self.key_iterator(d):
            before = _single_channel(d[key], key)
            labels = trim_to_intensity(before, image, self.fraction, self.sigma_voxels)
            d[key] = convert_to_dst_type(labels[None], d[key])[0]
            if self.mask_key is not None:
                removed = (before > 0) & (labels == 0)
                mask = (_single_channel(d[self.mask_key], self.mask_key) > 0) & ~removed
                d[self.mask_key] = convert_to_dst_type(mask[None], d[self.mask_key])[0]
        return d


class InstancesFromBinaryd(MapTransform):
    """Instance labels from a decollated foreground output (:func:`instances_from_binary`): connected
    components, or touching objects split by a distance-transform watershed when ``split_h`` is set.

    Args:
        keys: keys of the ``(C, [D,] H, W)`` foreground probabilities (e.g. after ``Activationsd``).
        instance_keys: output keys of the ``(1, [D,] H, W)`` int32 labels (type and metadata of the input).
        channel: the foreground channel (default the last: the one channel of a sigmoid output, or
            channel 1 of a two-class softmax output).
        threshold: foreground probability threshold.
        min_size: smallest instance kept, in pixels.
        connectivity: 1 (4-neighbourhood in 2D) up to the number of spatial dimensions.
        fill_holes: fill the holes of the foreground mask first.
        split_h: 0: connected components; positive: the ``h`` of :func:`split_touching`.
        split_sigma: smoothing of the distance transform for the split, in pixels.
        split_in_um: measure the split's distance transform in um, ``split_h`` in um: necks along a coarse z axis
            count as much as in-plane ones; False: voxels.
        spacing: the voxel size of that distance transform; None: the input's (its ``MetaTensor`` affine). On a grid
            scaled to the nucleus diameter (:class:`ScaleToDiameterd`) the network's ``model_spacing`` makes
            ``split_h`` relative to the nuclei's size, as ``spacing`` does for :class:`DensityPeaksd`.
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        instance_keys: KeysCollection = "instances",
        channel: int = -1,
        threshold: float = 0.5,
        min_size: int = 0,
        connectivity: int = 1,
        fill_holes: bool = False,
        split_h: float = 0.0,
        split_sigma: float = 1.0,
        split_in_um: bool = False,
        spacing: Sequence[float] | float | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.instance_keys = ensure_tuple_rep(instance_keys, len(self.keys))
        self.channel = channel
        self.split_in_um = split_in_um
        self.spacing = spacing
        self.options = dict(
            threshold=threshold,
            min_size=min_size,
            connectivity=connectivity,
            fill_holes=fill_holes,
            split_h=split_h,
            split_sigma=split_sigma,
        )

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, instance_key in self.key_iterator(d, self.instance_keys):
            value = d[key]
            if value.ndim < 3:
                raise ValueError(f"{key!r} must be channel-first (C, [D,] H, W), got shape {tuple(value.shape)}.")
            foreground = convert_to_numpy(value)[self.channel]
            spacing = resolve_spacing(value, self.spacing, foreground.ndim, name=str(key)) if self.split_in_um else None
            labels = instances_from_binary(foreground, **self.options, spacing=spacing)
            d[instance_key] = convert_to_dst_type(labels[None], value, dtype=np.int32)[0]
        return d


class InstancesFromThreeClassd(MapTransform):
    """Instance labels from decollated three-class outputs by a seeded watershed (:func:`instances_from_three_class`).

    Args:
        keys: keys of the ``(3, [D,] H, W)`` background / interior / border scores.
        instance_keys: output keys of the ``(1, [D,] H, W)`` int32 labels (type and metadata of the input).
        min_size: smallest instance kept, in pixels.
        min_seed_size: smallest interior component used as a seed.
        connectivity: neighbourhood of the interior components (1: 4-neighbourhood in 2D).
        unseeded: ``"label"`` keeps border-only objects, ``"drop"`` removes them.
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        instance_keys: KeysCollection = "instances",
        min_size: int = 0,
        min_seed_size: int = 0,
        connectivity: int = 1,
        unseeded: str = "label",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.instance_keys = ensure_tuple_rep(instance_keys, len(self.keys))
        self.min_size = min_size
        self.min_seed_size = min_seed_size
        self.connectivity = connectivity
        self.unseeded = unseeded

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, instance_key in self.key_iterator(d, self.instance_keys):
            labels = instances_from_three_class(
                convert_to_numpy(d[key]), self.min_size, self.min_seed_size, self.connectivity, self.unseeded
            )
            d[instance_key] = convert_to_dst_type(labels[None], d[key], dtype=np.int32)[0]
        return d


DensityCountD = DensityCountDict = DensityCountd
DensityPeaksD = DensityPeaksDict = DensityPeaksd
GrowInstancesD = GrowInstancesDict = GrowInstancesd
InstancesFromBinaryD = InstancesFromBinaryDict = InstancesFromBinaryd
InstancesFromThreeClassD = InstancesFromThreeClassDict = InstancesFromThreeClassd
ProbabilityMaskD = ProbabilityMaskDict = ProbabilityMaskd
SeededWatershedD = SeededWatershedDict = SeededWatershedd
SplitSegDetOutputD = SplitSegDetOutputDict = SplitSegDetOutputd
TrimInstancesD = TrimInstancesDict = TrimInstancesd
