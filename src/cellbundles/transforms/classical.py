"""MONAI transforms of the classical baseline: instance labels by threshold + seeded watershed at a
nucleus diameter (:func:`cellbundles.postprocess.classical_instances`); the diameter comes from
:class:`cellbundles.transforms.EstimateDiameterd`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_numpy, ensure_tuple_rep

from cellbundles.postprocess import classical_instances

from .utils import positive_diameter, resolve_spacing, spatial_array

__all__ = [
    "ClassicalInstances",
    "ClassicalInstancesD",
    "ClassicalInstancesDict",
    "ClassicalInstancesd",
]


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
        diameter = positive_diameter(self.diameter_um if diameter_um is None else diameter_um, "diameter_um")
        array = spatial_array(image, name)
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


ClassicalInstancesD = ClassicalInstancesDict = ClassicalInstancesd
