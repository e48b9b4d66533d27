"""Transforms of the foreground + normalised-distance output of the 2D nuclei networks (our addition to seeds 002/003).

- :class:`InstancesToDistanceTarget`: instance labels -> ``(2, H, W)`` target: foreground class (optionally
  with a gap along the seams of touching nuclei) and the normalised distance to each nucleus' own boundary
  (:func:`cellbundles.postprocess.normalised_distance`).
- :class:`NormalisedDistanced`: instance labels -> ``(1, [D,] H, W)`` normalised distance alone (the target of
  ``SegDetNet``'s distance output), in physical units on anisotropic grids.
- :class:`InstancesFromDistanced`: instance labels from the network's ``(3, H, W)`` logits (two foreground
  classes, one distance logit), by the distance-seeded watershed or by the seeds' own pipelines on the
  foreground alone (connected components, seed 002; distance-transform split of touching nuclei).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import DtypeLike, KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_numpy, ensure_tuple_rep

from cellbundles.postprocess import grow_instances, instances_from_binary, instances_from_distance, normalised_distance

from .targets import seamed_foreground
from .utils import as_instance_labels, describe, resolve_spacing

__all__ = [
    "INSTANCE_METHODS",
    "InstancesFromDistanceD",
    "InstancesFromDistanceDict",
    "InstancesFromDistanced",
    "InstancesToDistanceTarget",
    "InstancesToDistanceTargetD",
    "InstancesToDistanceTargetDict",
    "InstancesToDistanceTargetd",
    "NormalisedDistanceD",
    "NormalisedDistanceDict",
    "NormalisedDistanced",
]

INSTANCE_METHODS = ("distance", "split", "components")
"""Values of ``method`` in :class:`InstancesFromDistanced`."""


class InstancesToDistanceTarget(Transform):
    """Two-channel training target of a foreground + distance network from channel-first instance labels.

    Channel 0: foreground class (0 background, 1 nucleus); channel 1: normalised distance in [0, 1].
    With ``gap_width > 0`` the pixels where two nuclei touch (:func:`~cellbundles.transforms.contact_pixels`)
    are background in channel 0, so that the network learns touching nuclei as separate blobs.

    Args:
        gap_width: half-width in pixels of the background seam between touching nuclei (0: none).
        dtype: output dtype.
    """

    backend = [TransformBackends.NUMPY]

    def __init__(self, gap_width: int = 0, dtype: DtypeLike = np.float32) -> None:
        self.gap_width = gap_width
        self.dtype = dtype

    def __call__(self, labels: NdarrayOrTensor) -> NdarrayOrTensor:
        """
        Args:
            labels: ``(1, [D,] H, W)`` instance labels, 0 background.

        Returns:
            ``(2, [D,] H, W)`` target of the type of ``labels``.
        """
        array = as_instance_labels(convert_to_numpy(labels), describe(labels, "instance labels"))
        if array.ndim < 3 or array.shape[0] != 1:
            raise ValueError(f"{describe(labels, 'instance labels')} must have shape (1, [D,] H, W), got {array.shape}.")
        foreground = seamed_foreground(array[0], self.gap_width)
        target = np.stack([foreground, normalised_distance(array[0])]).astype(np.float32)
        return convert_to_dst_type(target, labels, dtype=self.dtype)[0]


class InstancesToDistanceTargetd(MapTransform):
    """Dictionary version of :class:`InstancesToDistanceTarget` (replaces the labels in place)."""

    backend = InstancesToDistanceTarget.backend

    def __init__(
        self, keys: KeysCollection, gap_width: int = 0, dtype: DtypeLike = np.float32, allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = InstancesToDistanceTarget(gap_width, dtype)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d


class NormalisedDistanced(MapTransform):
    """Normalised distance (:func:`cellbundles.postprocess.normalised_distance`) of channel-first instance labels.

    Args:
        keys: keys of the ``(1, [D,] H, W)`` instance labels.
        output_keys: output keys of the ``(1, [D,] H, W)`` float32 distances in [0, 1] (type and metadata of
            the labels).
        spacing: voxel spacing for the distance; None: the ``pixdim`` of the labels (a MetaTensor).
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        output_keys: KeysCollection = "distance",
        spacing: Sequence[float] | float | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_keys = ensure_tuple_rep(output_keys, len(self.keys))
        self.spacing = spacing

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, output_key in self.key_iterator(d, self.output_keys):
            name = describe(d[key], f"instance labels {key!r}")
            labels = as_instance_labels(convert_to_numpy(d[key]), name)
            if labels.ndim < 3 or labels.shape[0] != 1:
                raise ValueError(f"{name} must have shape (1, [D,] H, W), got {labels.shape}.")
            spacing = resolve_spacing(d[key], self.spacing, labels.ndim - 1)
            distance = normalised_distance(labels[0], spacing)[None]
            d[output_key] = convert_to_dst_type(distance, d[key], dtype=np.float32)[0]
        return d


class InstancesFromDistanced(MapTransform):
    """Instance labels from decollated ``(3, [D,] H, W)`` logits of a foreground + distance network.

    The foreground probability is the softmax of channels 0-1 (channel 1: nucleus), the distance the
    sigmoid of channel 2. ``method``:

    - ``"distance"``: :func:`cellbundles.postprocess.instances_from_distance` (the default here; the
      bundle defaults to ``"split"``);
    - ``"split"``: the foreground alone, touching nuclei split by a distance-transform watershed of the mask;
    - ``"components"``: the foreground's connected components (seed 002's pipeline).

    Args:
        keys: keys of the logits.
        instance_keys: output keys of the ``(1, [D,] H, W)`` int32 labels (type and metadata of the input).
        method: one of :data:`INSTANCE_METHODS`.
        threshold: foreground probability threshold.
        seed_threshold: normalised distance of the seed cores (``"distance"``).
        min_seed_size: smallest seed core in pixels (``"distance"``).
        min_size: smallest instance kept, in pixels.
        fill_holes: fill the holes of the foreground mask.
        split_h: the ``h`` of :func:`cellbundles.postprocess.split_touching` (``"split"``).
        grow: pixels by which every instance grows into the background (never into another instance), to
            give back the seam that a network trained with ``gap_width`` leaves between touching nuclei.
        grow_threshold: instances grow only into pixels whose foreground probability exceeds this (the seam
            keeps a low but non-zero probability; clear background does not).
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        instance_keys: KeysCollection = "instances",
        method: str = "distance",
        threshold: float = 0.5,
        seed_threshold: float = 0.5,
        min_seed_size: int = 3,
        min_size: int = 0,
        fill_holes: bool = True,
        split_h: float = 1.0,
        grow: int = 0,
        grow_threshold: float = 0.0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if method not in INSTANCE_METHODS:
            raise ValueError(f"method must be one of {INSTANCE_METHODS}, got {method!r}.")
        if grow < 0:
            raise ValueError(f"grow must be >= 0 pixels, got {grow}.")
        self.instance_keys = ensure_tuple_rep(instance_keys, len(self.keys))
        self.method = method
        self.threshold = threshold
        self.seed_threshold = seed_threshold
        self.min_seed_size = min_seed_size
        self.min_size = min_size
        self.fill_holes = fill_holes
        self.split_h = split_h
        self.grow = grow
        self.grow_threshold = grow_threshold

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, instance_key in self.key_iterator(d, self.instance_keys):
            logits = torch.as_tensor(d[key]).float()
            if logits.ndim < 3 or logits.shape[0] != 3:
                raise ValueError(
                    f"{key!r} must hold (3, [D,] H, W) logits (background, nucleus, distance), got shape {tuple(logits.shape)}."
                )
            foreground = torch.softmax(logits[:2], 0)[1].cpu().numpy()
            if self.method == "distance":
                distance = torch.sigmoid(logits[2]).cpu().numpy()
                labels = instances_from_distance(
                    foreground, distance, self.threshold, self.seed_threshold, self.min_seed_size, self.min_size,
                    self.fill_holes,
                )
            else:
                split_h = self.split_h if self.method == "split" else 0.0
                labels = instances_from_binary(
                    foreground, self.threshold, self.min_size, fill_holes=self.fill_holes, split_h=split_h
                )
            labels = grow_instances(labels, foreground, self.grow, self.grow_threshold)
            d[instance_key] = convert_to_dst_type(labels[None], d[key], dtype=np.int32)[0]
        return d


InstancesToDistanceTargetD = InstancesToDistanceTargetDict = InstancesToDistanceTargetd
InstancesFromDistanceD = InstancesFromDistanceDict = InstancesFromDistanced
NormalisedDistanceD = NormalisedDistanceDict = NormalisedDistanced
