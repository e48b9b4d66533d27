"""MONAI transforms of the classical baseline: nucleus diameter estimate and threshold + watershed instances.

- :class:`EstimateDiameter` / :class:`EstimateDiameterd`: the typical nucleus diameter of a
  channel-first image in micrometres (:func:`cellbundles.postprocess.estimate_nucleus_diameter`),
  the dictionary version storing it under a key (a given diameter is stored as is).
- :class:`ClassicalInstances` / :class:`ClassicalInstancesd`: instance labels by threshold + seeded
  watershed at that diameter (:func:`cellbundles.postprocess.classical_instances`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_numpy, ensure_tuple_rep

from cellbundles.postprocess import classical_instances, estimate_nucleus_diameter

from .utils import describe, resolve_spacing

__all__ = [
    "ClassicalInstances",
    "ClassicalInstancesD",
    "ClassicalInstancesDict",
    "ClassicalInstancesd",
    "EstimateDiameter",
    "EstimateDiameterD",
    "EstimateDiameterDict",
    "EstimateDiameterd",
]


def _spatial(image: NdarrayOrTensor, name: str) -> np.ndarray:
    """The spatial array of a one-channel ``(1, [D,] H, W)`` image, or a ``ValueError`` naming it."""
    if image.ndim not in (3, 4) or image.shape[0] != 1:
        raise ValueError(
            f"{describe(image, name)} must be a one-channel image (1, [D,] H, W), got shape {tuple(image.shape)}."
        )
    return convert_to_numpy(image)[0]


def _positive_diameter(diameter: object, name: str) -> float:
    """``diameter`` as a positive float, or a ``ValueError`` naming ``name``."""
    try:
        value = float(diameter)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number of micrometres, got {diameter!r}.")
    return value


class EstimateDiameter(Transform):
    """Typical nucleus diameter (micrometres) of a ``(1, [D,] H, W)`` fluorescence image.

    Args:
        spacing: voxel size per spatial axis (array order); None: the image's ``pixdim`` (MetaTensor).
        method: ``"scale_space"`` or ``"mask"`` (:func:`cellbundles.postprocess.estimate_nucleus_diameter`).
        min_um: smallest diameter considered.
        max_um: largest diameter considered.
    """

    backend = [TransformBackends.NUMPY]

    def __init__(
        self,
        spacing: Sequence[float] | float | None = None,
        method: str = "scale_space",
        min_um: float = 1.5,
        max_um: float = 40.0,
    ) -> None:
        self.spacing = spacing
        self.method = method
        self.min_um = min_um
        self.max_um = max_um

    def __call__(self, image: NdarrayOrTensor, name: str = "image") -> float:
        array = _spatial(image, name)
        spacing = resolve_spacing(image, self.spacing, array.ndim, name)
        return estimate_nucleus_diameter(array, spacing, self.method, self.min_um, self.max_um)


class EstimateDiameterd(MapTransform):
    """Store the nucleus diameter of each image under ``diameter_key``: ``diameter`` when it is a number,
    else (``"auto"``) the estimate of :class:`EstimateDiameter`. A diameter already in the data (e.g. set
    by an earlier transform) is kept.

    Args:
        keys: key of the ``(1, [D,] H, W)`` image (one key: the sample has one diameter).
        diameter: ``"auto"`` or a diameter in micrometres.
        diameter_key: output key (a Python float).
        spacing, method, min_um, max_um: as in :class:`EstimateDiameter`.
        allow_missing_keys: skip missing keys.
    """

    backend = EstimateDiameter.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        diameter: float | str = "auto",
        diameter_key: str = "nucleus_diameter_um",
        spacing: Sequence[float] | float | None = None,
        method: str = "scale_space",
        min_um: float = 1.5,
        max_um: float = 40.0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError(f"EstimateDiameterd takes one image key, got {self.keys}.")
        self.diameter = diameter if diameter == "auto" else _positive_diameter(diameter, "diameter")
        self.diameter_key = diameter_key
        self.estimator = EstimateDiameter(spacing, method, min_um, max_um)

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        for key in self.key_iterator(d):
            if d.get(self.diameter_key) is None:
                d[self.diameter_key] = self.estimator(d[key], str(key)) if self.diameter == "auto" else self.diameter
        return d


class ClassicalInstances(Transform):
    """Instance labels of a ``(1, [D,] H, W)`` image by threshold + distance-transform seeded watershed.

    Args:
        diameter_um: typical nucleus diameter in micrometres (e.g. from :class:`EstimateDiameter`).
        threshold: ``"otsu"`` or ``"local"`` (:func:`cellbundles.postprocess.classical_instances`).
        min_size_fraction: smallest object kept, as a fraction of a ball of ``diameter_um``.
        spacing: voxel size per spatial axis; None: the image's ``pixdim`` (MetaTensor).
    """

    backend = [TransformBackends.NUMPY]

    def __init__(
        self,
        diameter_um: float | None = None,
        threshold: str = "otsu",
        min_size_fraction: float = 0.25,
        spacing: Sequence[float] | float | None = None,
    ) -> None:
        self.diameter_um = diameter_um
        self.threshold = threshold
        self.min_size_fraction = min_size_fraction
        self.spacing = spacing

    def __call__(
        self, image: NdarrayOrTensor, diameter_um: float | None = None, name: str = "image"
    ) -> NdarrayOrTensor:
        """``(1, [D,] H, W)`` int32 labels of the type (and metadata) of ``image``; ``diameter_um``
        overrides the constructor's."""
        diameter = _positive_diameter(self.diameter_um if diameter_um is None else diameter_um, "diameter_um")
        array = _spatial(image, name)
        spacing = resolve_spacing(image, self.spacing, array.ndim, name)
        labels = classical_instances(array, spacing, diameter, self.threshold, self.min_size_fraction)
        return convert_to_dst_type(labels[None], image, dtype=np.int32)[0]


class ClassicalInstancesd(MapTransform):
    """Dictionary version of :class:`ClassicalInstances`, the diameter read from ``data[diameter_key]``
    (e.g. stored by :class:`EstimateDiameterd`), else ``diameter_um``.

    Args:
        keys: keys of the ``(1, [D,] H, W)`` images.
        instance_keys: output keys of the int32 labels.
        mask_keys: output keys of the int32 foreground (``labels > 0``); None: not stored.
        diameter_key: key of the sample's diameter in micrometres.
        diameter_um: diameter used when the sample has none.
        threshold, min_size_fraction, spacing: as in :class:`ClassicalInstances`.
        allow_missing_keys: skip missing keys.
    """

    backend = ClassicalInstances.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        instance_keys: KeysCollection = "instances",
        mask_keys: KeysCollection | None = None,
        diameter_key: str = "nucleus_diameter_um",
        diameter_um: float | None = None,
        threshold: str = "otsu",
        min_size_fraction: float = 0.25,
        spacing: Sequence[float] | float | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.instance_keys = ensure_tuple_rep(instance_keys, len(self.keys))
        self.mask_keys = ensure_tuple_rep(mask_keys, len(self.keys))
        self.diameter_key = diameter_key
        self.segmenter = ClassicalInstances(diameter_um, threshold, min_size_fraction, spacing)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        diameter = d.get(self.diameter_key)
        for key, instance_key, mask_key in self.key_iterator(d, self.instance_keys, self.mask_keys):
            d[instance_key] = self.segmenter(d[key], diameter, str(key))
            if mask_key is not None:
                labels = d[instance_key]
                d[mask_key] = convert_to_dst_type(convert_to_numpy(labels) > 0, labels, dtype=np.int32)[0]
        return d


EstimateDiameterD = EstimateDiameterDict = EstimateDiameterd
ClassicalInstancesD = ClassicalInstancesDict = ClassicalInstancesd
