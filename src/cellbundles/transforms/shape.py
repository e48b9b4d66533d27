"""Transforms of the ``nuclei_shape_3d`` bundle (seed 001): the network's two outputs split into the nucleus mask
and the shape image, and the per-nucleus outputs (centroid, shape class, contour) of its instance labels."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import convert_to_dst_type, convert_to_numpy

from cellbundles.postprocess import nucleus_shapes
from cellbundles.synth.utils import instance_contour

from .utils import describe

__all__ = ["NucleusShapesd", "NucleusShapesD", "NucleusShapesDict"]


class NucleusShapesd(MapTransform):
    """Per nucleus of channel-first instance labels: centroid (voxels), mean shape value and shape class
    (:func:`cellbundles.postprocess.nucleus_shapes`), and the contour image (boundary voxels of each nucleus,
    :func:`cellbundles.synth.utils.instance_contour`, its instance label on them).

    Args:
        keys: key of the ``(1, [D,] H, W)`` instance labels (one key).
        shape_key: key of the ``(1, [D,] H, W)`` (blurred) shape image on the same grid.
        threshold: ellipticity at and above which a nucleus is ``round``.
        centroid_key, id_key, score_key, class_key: output keys of the (N, D) centroids and the (N,) label ids,
            shape values and class names.
        contour_key: output key of the contour image (type and metadata of the labels); None: not made.
    """

    def __init__(
        self,
        keys: KeysCollection = "instances",
        shape_key: str = "shape",
        threshold: float = 0.7,
        centroid_key: str = "centroids",
        id_key: str = "instance_id",
        score_key: str = "shape_score",
        class_key: str = "shape_class",
        contour_key: str | None = "contours",
    ) -> None:
        super().__init__(keys)
        if len(self.keys) != 1:
            raise ValueError(f"NucleusShapesd takes one instance-label key, got {self.keys}.")
        self.shape_key, self.threshold, self.contour_key = shape_key, float(threshold), contour_key
        self.output_keys = {"centroids": centroid_key, "ids": id_key, "shape_score": score_key, "shape_class": class_key}

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            labels, shape = d[key], d[self.shape_key]
            instances = convert_to_numpy(labels)
            if instances.ndim < 3 or instances.shape[0] != 1:
                raise ValueError(f"{describe(labels, str(key))}: expected (1, [D,] H, W) labels, got {instances.shape}.")
            result = nucleus_shapes(instances[0].astype(np.int64), convert_to_numpy(shape)[0], self.threshold)
            for name, output_key in self.output_keys.items():
                d[output_key] = result[name]
            if self.contour_key is not None:
                contour = instance_contour(instances[0]) * instances[0]
                d[self.contour_key] = convert_to_dst_type(contour[None], labels, dtype=instances.dtype)[0]
        return d


NucleusShapesD = NucleusShapesDict = NucleusShapesd
