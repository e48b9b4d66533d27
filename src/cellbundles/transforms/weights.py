"""Border weight maps from instance labels: U-Net's (2D and 3D) and seed 004's blurred contours.

References:
    Ronneberger, Fischer and Brox, "U-Net: Convolutional Networks for Biomedical Image
    Segmentation", MICCAI 2015 (reference [12] of seed 000, which uses these weights "in 3D").
    Korfhage N et al., "Detection and segmentation of morphologically complex eukaryotic cells in
    fluorescence microscopy images via feature pyramid fusion", PLoS Comput Biol 16(9): e1008179,
    2020, section "Weighted segmentation loss" (:func:`contour_weight_map`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from monai.config import DtypeLike, KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_numpy, ensure_tuple_rep
from scipy import ndimage
from skimage.segmentation import find_boundaries

from .utils import as_instance_labels, describe

__all__ = [
    "BorderWeightMap",
    "BorderWeightMapD",
    "BorderWeightMapDict",
    "BorderWeightMapd",
    "border_weight_map",
    "class_balance_weights",
    "contour_weight_map",
]


def class_balance_weights(foreground: np.ndarray) -> np.ndarray:
    """Per-voxel class-balance weights ``w_c``: ``N / (K n_k)`` for the class ``k`` of each voxel.

    ``N`` is the number of voxels, ``n_k`` the number in class ``k`` and ``K`` the number of classes
    present, so that both classes carry the same total weight and the map averages to one. An image
    with a single class gets weight one everywhere.

    Args:
        foreground: boolean array of any shape.

    Returns:
        float64 array of the same shape.
    """
    n_foreground = int(np.count_nonzero(foreground))
    n_total = foreground.size
    if n_foreground in (0, n_total):
        return np.ones(foreground.shape, dtype=np.float64)
    return np.where(foreground, n_total / (2.0 * n_foreground), n_total / (2.0 * (n_total - n_foreground)))


def border_weight_map(
    labels: np.ndarray, w0: float = 10.0, sigma: float = 5.0, class_balance: bool = True, truncate: float = 4.0
) -> np.ndarray:
    """``w(x) = w_c(x) + w0 exp(-(d1(x) + d2(x))^2 / (2 sigma^2))`` from instance labels.

    ``d1`` and ``d2`` are the Euclidean distances (in voxels) from ``x`` to the nearest and the
    second-nearest object; a voxel inside an object is at distance 0 from it, so voxels at the
    interface of two touching objects get nearly ``w0`` on both sides and gaps between objects get
    the most weight when narrowest. The distance to each object is computed only within its bounding
    box grown by ``ceil(truncate * sigma)`` voxels: farther voxels have ``d2`` above that margin, where
    the border term is below ``w0 exp(-truncate^2 / 2)`` and is set to zero. The cost is the sum of
    these windows, linear in the number of objects.

    Args:
        labels: ``([D,] H, W)`` instance labels, 0 background.
        w0: border weight (U-Net: 10).
        sigma: border width in voxels (U-Net: 5).
        class_balance: add :func:`class_balance_weights` as ``w_c``; otherwise ``w_c = 1``.
        truncate: window margin in units of ``sigma``.

    Returns:
        float64 array of the shape of ``labels``.
    """
    labels = as_instance_labels(labels)
    if sigma <= 0 or truncate <= 0:
        raise ValueError(f"sigma and truncate must be positive, got {sigma} and {truncate}.")
    foreground = labels > 0
    weights = class_balance_weights(foreground) if class_balance else np.ones(labels.shape, dtype=np.float64)
    if w0 == 0 or not foreground.any():
        return weights
    margin = int(np.ceil(truncate * sigma))
    nearest = np.full(labels.shape, np.inf, dtype=np.float32)
    second = np.full(labels.shape, np.inf, dtype=np.float32)
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        window = tuple(slice(max(b.start - margin, 0), min(b.stop + margin, n)) for b, n in zip(box, labels.shape))
        distance = ndimage.distance_transform_edt(labels[window] != index).astype(np.float32)
        nearest_window = nearest[window]
        second[window] = np.minimum(second[window], np.maximum(nearest_window, distance))
        nearest[window] = np.minimum(nearest_window, distance)
    total = nearest.astype(np.float64) + second
    border = np.zeros(labels.shape, dtype=np.float64)
    finite = np.isfinite(total)
    border[finite] = w0 * np.exp(-(total[finite] ** 2) / (2.0 * sigma**2))
    return weights + border


def contour_weight_map(labels: np.ndarray, sigma: float = 5.0, kernel_size: int = 25) -> np.ndarray:
    """Seed 004's mask-loss weights: ``w = 1 + min(1, sqrt(2 pi) sigma (G * C))``, 1 inside objects, up to 2 at contours.

    ``C`` marks the contour pixels of every instance (the object pixels next to the background or to
    another object) and ``G`` is a normalised ``kernel_size x kernel_size`` Gaussian of standard
    deviation ``sigma`` (the paper: 25 x 25, sigma 5). The factor ``sqrt(2 pi) sigma`` scales the
    blurred contours so that a straight isolated contour reaches 1 on its line; where contours of
    touching objects crowd, the weight saturates at 2.

    Args:
        labels: ``(H, W)`` instance labels, 0 background.
        sigma: standard deviation of the blur, in pixels.
        kernel_size: odd width of the blur kernel, in pixels.

    Returns:
        float64 array of the shape of ``labels``, values in [1, 2].
    """
    labels = as_instance_labels(labels)
    if labels.ndim != 2:
        raise ValueError(f"contour_weight_map takes a 2D label image, got shape {labels.shape}.")
    if sigma <= 0 or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"sigma must be positive and kernel_size odd, got {sigma} and {kernel_size}.")
    contours = find_boundaries(labels, mode="inner").astype(np.float64)
    radius = kernel_size // 2
    blurred = ndimage.gaussian_filter(contours, sigma=sigma, mode="constant", truncate=radius / sigma)
    return 1.0 + np.minimum(1.0, np.sqrt(2.0 * np.pi) * sigma * blurred)


class BorderWeightMap(Transform):
    """U-Net border weight map of channel-first instance labels, for weighted cross-entropy.

    See :func:`border_weight_map` for the definition and the windowed computation.

    Args:
        w0: border weight (U-Net: 10).
        sigma: border width in voxels (U-Net: 5).
        class_balance: add class-balance weights ``w_c`` (both classes the same total weight).
        truncate: window margin in units of ``sigma``.
        dtype: output dtype.
    """

    backend = [TransformBackends.NUMPY]

    def __init__(
        self,
        w0: float = 10.0,
        sigma: float = 5.0,
        class_balance: bool = True,
        truncate: float = 4.0,
        dtype: DtypeLike = np.float32,
    ) -> None:
        self.w0 = w0
        self.sigma = sigma
        self.class_balance = class_balance
        self.truncate = truncate
        self.dtype = dtype

    def __call__(self, labels: NdarrayOrTensor) -> NdarrayOrTensor:
        """
        Args:
            labels: ``(1, [D,] H, W)`` instance labels, 0 background.

        Returns:
            ``(1, [D,] H, W)`` weights, of the type of ``labels``.
        """
        name = describe(labels, "instance labels")
        if labels.shape[0] != 1:
            raise ValueError(f"{name} must have one channel, got shape {tuple(labels.shape)}.")
        array = as_instance_labels(convert_to_numpy(labels)[0], name)
        weights = border_weight_map(array, self.w0, self.sigma, self.class_balance, self.truncate)[None]
        return convert_to_dst_type(weights, labels, dtype=self.dtype)[0]


class BorderWeightMapd(MapTransform):
    """Dictionary version of :class:`BorderWeightMap`.

    Args:
        keys: keys of the instance labels.
        weight_keys: output keys, one per key in ``keys``.
        w0: see :class:`BorderWeightMap`.
        sigma: see :class:`BorderWeightMap`.
        class_balance: see :class:`BorderWeightMap`.
        truncate: see :class:`BorderWeightMap`.
        dtype: see :class:`BorderWeightMap`.
        allow_missing_keys: skip missing label keys (samples without masks).
    """

    backend = BorderWeightMap.backend

    def __init__(
        self,
        keys: KeysCollection = "label",
        weight_keys: KeysCollection = "weight",
        w0: float = 10.0,
        sigma: float = 5.0,
        class_balance: bool = True,
        truncate: float = 4.0,
        dtype: DtypeLike = np.float32,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.weight_keys = ensure_tuple_rep(weight_keys, len(self.keys))
        self.converter = BorderWeightMap(
            w0=w0, sigma=sigma, class_balance=class_balance, truncate=truncate, dtype=dtype
        )

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, weight_key in self.key_iterator(d, self.weight_keys):
            d[weight_key] = self.converter(d[key])
        return d


BorderWeightMapD = BorderWeightMapDict = BorderWeightMapd
