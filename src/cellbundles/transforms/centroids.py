"""Centroids of instance labels, for datasets that come with masks but no centroid files."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_numpy, ensure_tuple_rep
from scipy import ndimage

from .utils import as_instance_labels, describe

__all__ = ["CentroidsFromLabels", "CentroidsFromLabelsD", "CentroidsFromLabelsDict", "CentroidsFromLabelsd"]


class CentroidsFromLabels(Transform):
    """Centre of mass of every object of channel-first instance labels.

    The result follows the convention of the centroid files of the canonical layout: voxel
    coordinates in array axis order (``z, y, x`` for 3D), one row per object in increasing label order.
    """

    backend = [TransformBackends.NUMPY]

    def __call__(self, labels: NdarrayOrTensor) -> np.ndarray:
        """
        Args:
            labels: ``(1, [D,] H, W)`` instance labels, 0 background.

        Returns:
            ``(N, D)`` float64 centroids of the ``N`` labels present.
        """
        name = describe(labels, "instance labels")
        if labels.shape[0] != 1:
            raise ValueError(f"{name} must have one channel, got shape {tuple(labels.shape)}.")
        array = as_instance_labels(convert_to_numpy(labels)[0], name)
        spatial_dims = array.ndim
        ids = np.unique(array)
        ids = ids[ids > 0]
        if ids.size == 0:
            return np.zeros((0, spatial_dims), dtype=np.float64)
        centres = ndimage.center_of_mass(np.ones(array.shape, dtype=np.float32), array, ids)
        return np.asarray(centres, dtype=np.float64).reshape(len(ids), spatial_dims)


class CentroidsFromLabelsd(MapTransform):
    """Dictionary version of :class:`CentroidsFromLabels`.

    Args:
        keys: keys of the instance labels.
        centroid_keys: output keys, one per key in ``keys``.
        overwrite: replace centroids already in the data; with False (default) samples that come
            with annotated centroids keep them and only the others get centroids from their labels.
        allow_missing_keys: skip missing label keys (samples without masks).
    """

    backend = CentroidsFromLabels.backend

    def __init__(
        self,
        keys: KeysCollection = "label",
        centroid_keys: KeysCollection = "centroids",
        overwrite: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.centroid_keys = ensure_tuple_rep(centroid_keys, len(self.keys))
        self.overwrite = overwrite
        self.converter = CentroidsFromLabels()

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, centroid_key in self.key_iterator(d, self.centroid_keys):
            if self.overwrite or d.get(centroid_key) is None:
                d[centroid_key] = self.converter(d[key])
        return d


CentroidsFromLabelsD = CentroidsFromLabelsDict = CentroidsFromLabelsd
