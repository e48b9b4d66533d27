"""Seed 002's augmentation list as MONAI random transforms (2D, channel-first), and a per-nucleus
contrast change for dim nuclei next to bright ones.

Reference:
    Seed 002, "Nuclei Segmentation in Cell Images using Fully Convolutional Neural Networks"
    (section III.B, data augmentation). Full citation: docs/design.md, "Bundles".
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from monai.config import KeysCollection, NdarrayOrTensor
from monai.transforms import (
    Compose,
    Rand2DElasticd,
    RandAdjustContrastd,
    RandAffined,
    RandFlipd,
    RandGridDistortiond,
    RandScaleIntensityFixedMeand,
    RandShiftIntensityd,
)
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_numpy, ensure_tuple
from scipy import ndimage

__all__ = ["RandNucleusContrastd", "RandNucleusContrastD", "RandNucleusContrastDict", "dsb_augmentations"]


def dsb_augmentations(
    keys: KeysCollection = ("image", "label"),
    label_keys: KeysCollection = "label",
    flip_prob: float = 0.5,
    affine_prob: float = 0.5,
    elastic_prob: float = 0.5,
    grid_distortion_prob: float = 0.5,
    optical_distortion_prob: float = 0.5,
    contrast_prob: float = 0.5,
    gamma_prob: float = 0.5,
    brightness_prob: float = 0.5,
    rotate_degrees: float = 45.0,
    scale_range: float = 0.1,
    translate_pixels: float = 16.0,
    elastic_spacing: float = 32.0,
    elastic_magnitude: tuple[float, float] = (1.0, 3.0),
    grid_cells: int = 5,
    grid_distort_limit: float = 0.3,
    optical_cells: int = 3,
    optical_distort_limit: float = 0.1,
    contrast_factor: float = 0.2,
    gamma_range: tuple[float, float] = (0.8, 1.2),
    brightness_offset: float = 0.2,
) -> Compose:
    """Seed 002's "heavy" augmentation list as MONAI dictionary random transforms (2D, channel-first).

    The paper names horizontal flip, random contrast, random gamma, random brightness, elastic
    transform, grid distortion, optical distortion and shift-scale-rotate, without probabilities or
    magnitudes. These are the names of the ``albumentations`` transforms, so the defaults follow
    that library's defaults (probability 0.5 each, contrast and brightness 0.2, gamma 0.8-1.2, shift
    0.0625 of the size, here 16 pixels of a 256 input, scale 0.1, rotation 45 degrees, 5 grid cells
    with limit 0.3). MONAI equivalents:

    ============================  =====================================================================
    paper                         MONAI transform
    ============================  =====================================================================
    horizontal flip               ``RandFlipd(spatial_axis=1)`` (the last, x axis)
    shift scale rotate            ``RandAffined`` (translation in pixels, rotation, scale per axis)
    elastic transform             ``Rand2DElasticd`` (random offsets on a coarse grid, ``elastic_spacing``)
    grid distortion               ``RandGridDistortiond`` (``grid_cells`` cells per axis)
    optical distortion            ``RandGridDistortiond`` with ``optical_cells`` cells (closest available:
                                  MONAI has no lens model; a coarse grid stretches the centre against the
                                  periphery like barrel / pincushion distortion, but per axis, piecewise
                                  linear, not radial)
    random contrast               ``RandScaleIntensityFixedMeand`` (scale about the mean)
    random gamma                  ``RandAdjustContrastd`` (MONAI's "contrast" is a gamma curve)
    random brightness             ``RandShiftIntensityd`` (additive, for images scaled to [0, 1])
    ============================  =====================================================================

    Every spatial transform draws one set of random parameters per sample and applies it to all
    ``keys``, interpolating ``label_keys`` with nearest neighbour (instance ids stay integers) and the
    others bilinearly, padding with zeros; the intensity transforms touch only the keys that are not
    in ``label_keys``. Use after :class:`ToSingleChanneld` (intensities in [0, 1]).

    Args:
        keys: keys of the image and of its spatially aligned targets.
        label_keys: the subset of ``keys`` holding labels (nearest interpolation, no intensity change).
        flip_prob: probability of the horizontal flip.
        affine_prob: probability of shift-scale-rotate.
        elastic_prob: probability of the elastic deformation.
        grid_distortion_prob: probability of the grid distortion.
        optical_distortion_prob: probability of the (approximate) optical distortion.
        contrast_prob: probability of the contrast change.
        gamma_prob: probability of the gamma change.
        brightness_prob: probability of the brightness change.
        rotate_degrees: maximum rotation, degrees either way.
        scale_range: maximum relative scale change either way.
        translate_pixels: maximum shift in pixels either way, per axis.
        elastic_spacing: distance between the control points of the elastic deformation, pixels.
        elastic_magnitude: range of the standard deviation of the control-point offsets, pixels.
        grid_cells: cells per axis of the grid distortion.
        grid_distort_limit: maximum relative change of a grid cell's size.
        optical_cells: cells per axis of the coarse grid standing in for optical distortion.
        optical_distort_limit: maximum relative change of a coarse cell's size.
        contrast_factor: maximum relative contrast change either way.
        gamma_range: range of the gamma exponent.
        brightness_offset: maximum additive brightness change either way.

    Returns:
        a ``monai.transforms.Compose`` (``set_random_state`` makes it reproducible).
    """
    keys = ensure_tuple(keys)
    label_keys = ensure_tuple(label_keys)
    unknown = [key for key in label_keys if key not in keys]
    if unknown:
        raise ValueError(f"label_keys {unknown} are not in keys {list(keys)}.")
    modes = tuple("nearest" if key in label_keys else "bilinear" for key in keys)
    image_keys = tuple(key for key in keys if key not in label_keys)
    spatial = [
        RandFlipd(keys, prob=flip_prob, spatial_axis=1),
        RandAffined(
            keys,
            prob=affine_prob,
            rotate_range=np.deg2rad(rotate_degrees),
            scale_range=scale_range,
            translate_range=translate_pixels,
            mode=modes,
            padding_mode="zeros",
        ),
        Rand2DElasticd(
            keys,
            spacing=elastic_spacing,
            magnitude_range=elastic_magnitude,
            prob=elastic_prob,
            mode=modes,
            padding_mode="zeros",
        ),
        RandGridDistortiond(
            keys,
            num_cells=grid_cells,
            prob=grid_distortion_prob,
            distort_limit=grid_distort_limit,
            mode=modes,
            padding_mode="zeros",
        ),
        RandGridDistortiond(
            keys,
            num_cells=optical_cells,
            prob=optical_distortion_prob,
            distort_limit=optical_distort_limit,
            mode=modes,
            padding_mode="zeros",
        ),
    ]
    intensity = []
    if image_keys:
        intensity = [
            RandScaleIntensityFixedMeand(image_keys, factors=contrast_factor, prob=contrast_prob),
            RandAdjustContrastd(image_keys, gamma=gamma_range, prob=gamma_prob),
            RandShiftIntensityd(image_keys, offsets=brightness_offset, prob=brightness_prob),
        ]
    return Compose(spatial + intensity)


class RandNucleusContrastd(RandomizableTransform, MapTransform):
    """Dim some nuclei of an image, each by its own random factor, so that a network learns nuclei of
    any brightness next to bright ones (DSB2018 fluorescence fields hold nuclei 30 x dimmer than
    their neighbours; seed 002's image-wide contrast, gamma and brightness changes never make one).

    Each labelled nucleus is chosen with probability ``fraction``; its intensity above the image
    background (the median of the pixels farther than ``halo`` pixels from every nucleus) is
    multiplied by a factor drawn log-uniformly from ``factor_range``. The factor covers the nucleus
    and the ``halo`` pixels nearest to it, so that a blurred edge is dimmed with it. Labels are unchanged.

    Args:
        keys: the image key(s), ``(C, H, W[, D])`` intensities.
        label_key: the aligned instance labels ``(1, H, W[, D])``, 0 background.
        prob: probability of changing an image at all.
        fraction: probability of dimming each nucleus of a changed image.
        factor_range: range of the contrast factors, ``0 < low <= high``.
        halo: distance in pixels around a nucleus that is dimmed with it.
        allow_missing_keys: don't raise for missing keys.
    """

    backend = [TransformBackends.NUMPY]

    def __init__(
        self,
        keys: KeysCollection,
        label_key: str = "label",
        prob: float = 0.5,
        fraction: float = 0.3,
        factor_range: tuple[float, float] = (0.02, 1.0),
        halo: float = 2.0,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        if not 0.0 < factor_range[0] <= factor_range[1]:
            raise ValueError(f"factor_range must satisfy 0 < low <= high, got {factor_range}.")
        self.label_key = label_key
        self.fraction = fraction
        self.log_range = np.log(np.asarray(factor_range, dtype=np.float64))
        self.halo = halo

    def _factor_map(self, labels: np.ndarray) -> np.ndarray | None:
        """Per-pixel contrast factor (1 away from the dimmed nuclei), or None when no nucleus is dimmed."""
        count = int(labels.max())
        dimmed = self.R.random(count) < self.fraction
        if not dimmed.any():
            return None
        factors = np.ones(count + 1)
        factors[1:][dimmed] = np.exp(self.R.uniform(*self.log_range, size=int(dimmed.sum())))
        distance, nearest = ndimage.distance_transform_edt(labels == 0, return_indices=True)
        grown = np.where(distance <= self.halo, labels[tuple(nearest)], 0)
        return factors[grown]

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        labels = convert_to_numpy(d[self.label_key])[0].astype(np.int64)
        factor = self._factor_map(labels) if labels.max() > 0 else None
        if factor is None:
            return d
        outside = factor == 1.0
        for key in self.key_iterator(d):
            image = convert_to_numpy(d[key], dtype=np.float32)
            background = np.median(image[:, outside], axis=1) if outside.any() else image.reshape(len(image), -1).min(1)
            background = background.reshape((-1,) + (1,) * labels.ndim)
            dimmed = background + (image - background) * factor[None]
            d[key], *_ = convert_to_dst_type(dimmed.astype(np.float32), d[key])
        return d


RandNucleusContrastD = RandNucleusContrastDict = RandNucleusContrastd
