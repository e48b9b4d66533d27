"""A shape class per nucleus from the shape image of M2 (seed 001, section 3).

Reference:
    Seed 001: "The post-processing on I_shape is done by the Gaussian blurring with sigma = 2 followed by
    thresholding with empirically selected thresholds." I_shape approximates I_shapemarker / 255, the nucleus's
    ellipticity (shortest / longest axis, :func:`cellbundles.synth.label_ellipticity`): 1 for a sphere.

Here the blurred shape image is averaged over each nucleus of the instance labels and compared with one threshold:
``round`` at or above it, ``elongated`` below.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from cellbundles.utils import to_numpy

__all__ = ["SHAPE_CLASSES", "nucleus_shapes"]

SHAPE_CLASSES = ("elongated", "round")
"""Shape classes, below and at or above the threshold."""


def nucleus_shapes(instances: np.ndarray, shape_image: np.ndarray, threshold: float = 0.7) -> dict[str, np.ndarray]:
    """Centroid, mean shape value and shape class of every nucleus.

    Args:
        instances: ``([D,] H, W)`` instance labels, 0 background.
        shape_image: the (blurred) shape image of the same shape, about the ellipticity in ``[0, 1]``.
        threshold: ellipticity at and above which a nucleus is ``round``.

    Returns:
        ``ids`` (N,) labels in increasing order, ``centroids`` (N, D) voxel coordinates (centres of mass),
        ``shape_score`` (N,) mean shape value inside each nucleus, ``shape_class`` (N,) strings of
        :data:`SHAPE_CLASSES`.
    """
    instances, shape_image = to_numpy(instances), to_numpy(shape_image).astype(np.float64)
    if instances.shape != shape_image.shape:
        raise ValueError(f"instances {instances.shape} and shape image {shape_image.shape} differ in shape.")
    ids = np.unique(instances[instances > 0]).astype(np.int64)
    if len(ids) == 0:
        empty = np.zeros(0)
        return {"ids": ids, "centroids": np.zeros((0, instances.ndim)), "shape_score": empty,
                "shape_class": np.zeros(0, dtype="<U9")}  # fmt: skip
    centroids = np.asarray(ndimage.center_of_mass(np.ones(instances.shape), instances, ids), dtype=np.float64)
    scores = np.asarray(ndimage.mean(shape_image, instances, ids), dtype=np.float64)
    classes = np.where(scores >= threshold, SHAPE_CLASSES[1], SHAPE_CLASSES[0])
    return {"ids": ids, "centroids": centroids.reshape(len(ids), -1), "shape_score": scores, "shape_class": classes}
