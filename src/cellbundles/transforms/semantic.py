"""Transforms of the 2D semantic segmentation bundles (seeds 002 and 003): targets, input normalisation, augmentation.

- :class:`InstancesToBinary`: instance labels -> binary foreground (seed 002's target).
- :class:`InstancesToThreeClass`: instance labels -> background / nucleus interior / border classes
  (seed 003's simple CNN target; the border class is what lets instances be separated again, see
  :func:`cellbundles.postprocess.instances_from_three_class`).
- :class:`ToSingleChannel`: grey, RGB or RGBA images (DSB2018 mixes all three) -> one channel in [0, 1].
- :func:`dsb_augmentations`: seed 002's augmentation list as MONAI random transforms.
- :class:`InstancesFromBinaryd`, :class:`InstancesFromThreeClassd`: instance labels from network
  outputs in a post-processing chain (wrapping :mod:`cellbundles.postprocess.semantic`).

References:
    Seed 002, "Nuclei Segmentation in Cell Images using Fully Convolutional Neural Networks"
    (section III.B, data augmentation); seed 003, a benchmark of deep learning methods for nuclei
    segmentation on DSB2018 (Methods, simple CNN).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from monai.config import DtypeLike, KeysCollection, NdarrayOrTensor
from monai.transforms import (
    Compose,
    MapTransform,
    Rand2DElasticd,
    RandAdjustContrastd,
    RandAffined,
    RandFlipd,
    RandGridDistortiond,
    RandScaleIntensityFixedMeand,
    RandShiftIntensityd,
    Transform,
)
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_numpy, ensure_tuple, ensure_tuple_rep
from scipy import ndimage

from cellbundles.postprocess.semantic import instances_from_binary, instances_from_three_class

from .utils import as_instance_labels, describe

__all__ = [
    "INVERT_MODES",
    "InstancesFromBinaryD",
    "InstancesFromBinaryDict",
    "InstancesFromBinaryd",
    "InstancesFromThreeClassD",
    "InstancesFromThreeClassDict",
    "InstancesFromThreeClassd",
    "InstancesToBinary",
    "InstancesToBinaryD",
    "InstancesToBinaryDict",
    "InstancesToBinaryd",
    "InstancesToThreeClass",
    "InstancesToThreeClassD",
    "InstancesToThreeClassDict",
    "InstancesToThreeClassd",
    "ToSingleChannel",
    "ToSingleChannelD",
    "ToSingleChannelDict",
    "ToSingleChanneld",
    "dsb_augmentations",
    "three_class_map",
]

INVERT_MODES = ("never", "always", "auto")
"""Values of ``invert`` in :class:`ToSingleChannel`."""

_COLOUR_SPREAD = 0.05
"""Mean spread between colour channels, relative to the scaled range, above which an image is colour."""


def three_class_map(labels: np.ndarray, border_width: int = 1, connectivity: int = 1) -> np.ndarray:
    """Background (0), nucleus interior (1) and border (2) classes from instance labels.

    A pixel of an object is a border pixel when a pixel with another value (background or another
    object) lies within ``border_width`` steps of the ``connectivity`` neighbourhood; so two touching
    objects both get a border along their contact, and an object of width up to ``2 * border_width``
    is all border. The image edge is not a border (objects cut by the field of view keep their
    interior up to the edge).

    Args:
        labels: ``([D,] H, W)`` instance labels, 0 background.
        border_width: border thickness in pixels; 0 gives no border class (binary interior).
        connectivity: neighbourhood of one step, 1 (faces: 4-neighbourhood in 2D) up to
            ``labels.ndim`` (faces, edges and corners: 8-neighbourhood in 2D).

    Returns:
        uint8 array of the shape of ``labels`` with values 0, 1, 2.
    """
    labels = as_instance_labels(labels)
    if border_width < 0 or int(border_width) != border_width:
        raise ValueError(f"border_width must be a non-negative integer, got {border_width}.")
    if not 1 <= connectivity <= labels.ndim:
        raise ValueError(f"connectivity must be in [1, {labels.ndim}], got {connectivity}.")
    classes = (labels > 0).astype(np.uint8)
    if border_width == 0 or not classes.any():
        return classes
    footprint = ndimage.iterate_structure(
        ndimage.generate_binary_structure(labels.ndim, connectivity), int(border_width)
    )
    largest = ndimage.maximum_filter(labels, footprint=footprint, mode="nearest")
    smallest = ndimage.minimum_filter(labels, footprint=footprint, mode="nearest")
    classes[(labels > 0) & ((largest != labels) | (smallest != labels))] = 2
    return classes


class InstancesToBinary(Transform):
    """Binary foreground (1 inside any object, 0 background) of instance labels of any shape.

    Args:
        dtype: output dtype (float32 suits MONAI losses and metrics).
    """

    backend = [TransformBackends.NUMPY]

    def __init__(self, dtype: DtypeLike = np.float32) -> None:
        self.dtype = dtype

    def __call__(self, labels: NdarrayOrTensor) -> NdarrayOrTensor:
        """
        Args:
            labels: ``(1, [D,] H, W)`` instance labels, 0 background.

        Returns:
            foreground of the shape and type of ``labels`` (a MetaTensor keeps its metadata).
        """
        foreground = as_instance_labels(convert_to_numpy(labels), describe(labels, "instance labels")) > 0
        return convert_to_dst_type(foreground, labels, dtype=self.dtype)[0]


class InstancesToThreeClass(Transform):
    """Background (0) / nucleus interior (1) / border (2) class map of channel-first instance labels.

    See :func:`three_class_map`. Use MONAI's ``AsDiscrete(to_onehot=3)`` for a one-hot target.

    Args:
        border_width: border thickness in pixels.
        connectivity: neighbourhood of one step (1: 4-neighbourhood in 2D).
        dtype: output dtype.
    """

    backend = [TransformBackends.NUMPY]

    def __init__(self, border_width: int = 1, connectivity: int = 1, dtype: DtypeLike = np.float32) -> None:
        self.border_width = border_width
        self.connectivity = connectivity
        self.dtype = dtype

    def __call__(self, labels: NdarrayOrTensor) -> NdarrayOrTensor:
        """
        Args:
            labels: ``(1, [D,] H, W)`` instance labels, 0 background.

        Returns:
            ``(1, [D,] H, W)`` classes 0, 1, 2, of the type of ``labels``.
        """
        name = describe(labels, "instance labels")
        if labels.ndim < 3 or labels.shape[0] != 1:
            raise ValueError(f"{name} must be channel-first with one channel, got shape {tuple(labels.shape)}.")
        array = as_instance_labels(convert_to_numpy(labels)[0], name)
        classes = three_class_map(array, self.border_width, self.connectivity)[None]
        return convert_to_dst_type(classes, labels, dtype=self.dtype)[0]


class ToSingleChannel(Transform):
    """One-channel image in [0, 1] from a grey, RGB or RGBA channel-first image.

    Steps: drop the alpha channel of RGBA images (DSB2018 stores every image as RGBA with alpha
    255); average the colour channels (unweighted, so that a stain rendered in any one colour, e.g.
    blue DAPI, keeps its full contrast, and grey images stored as RGB come back unchanged); scale
    the ``lower`` and ``upper`` intensity percentiles to 0 and 1 and clip; optionally invert.

    Inversion: neither seed 002 (which feeds the RGB image to its network) nor seed 003 inverts
    brightfield or stained-tissue images, where nuclei are darker than the background, so the
    default ``invert="never"`` keeps their behaviour. ``"auto"`` inverts the images that look like
    brightfield, so that one-channel models trained mostly on fluorescence see bright nuclei on a
    dark background everywhere: colour images (mean spread between the colour channels above 5 % of
    the scaled range: stained tissue, as every colour image of DSB2018 is) and grey images whose
    median after scaling is above 0.5 (a bright background). On the vendored DSB2018 samples this
    inverts all brightfield and stained images and no fluorescence image; a colour *fluorescence*
    composite would be inverted wrongly, use ``"never"`` for such data. ``"always"`` inverts every image.

    Args:
        lower: lower intensity percentile, mapped to 0 (1 and 99.8 are the usual choice of
            StarDist / CSBDeep percentile normalisation; the papers do not state theirs).
        upper: upper intensity percentile, mapped to 1.
        invert: ``"never"``, ``"auto"`` or ``"always"``, see above.
        dtype: output dtype.
    """

    backend = [TransformBackends.NUMPY]

    def __init__(
        self, lower: float = 1.0, upper: float = 99.8, invert: str = "never", dtype: DtypeLike = np.float32
    ) -> None:
        if not 0.0 <= lower < upper <= 100.0:
            raise ValueError(f"percentiles must satisfy 0 <= lower < upper <= 100, got {lower} and {upper}.")
        if invert not in INVERT_MODES:
            raise ValueError(f"invert must be one of {INVERT_MODES}, got {invert!r}.")
        self.lower = lower
        self.upper = upper
        self.invert = invert
        self.dtype = dtype

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        """
        Args:
            img: ``(C, [D,] H, W)`` image with ``C`` 1 (grey), 3 (RGB) or 4 (RGBA).

        Returns:
            ``(1, [D,] H, W)`` image in [0, 1], of the type of ``img``.
        """
        name = describe(img, "image")
        if img.ndim < 3 or img.shape[0] not in (1, 3, 4):
            raise ValueError(
                f"{name} must be channel-first with 1 (grey), 3 (RGB) or 4 (RGBA) channels, "
                f"got shape {tuple(img.shape)}."
            )
        array = convert_to_numpy(img, dtype=np.float32)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} contains NaN or Inf.")
        colours = array[:3]
        grey = colours.mean(axis=0, keepdims=True)
        low, high = np.percentile(grey, (self.lower, self.upper))
        value_range = float(high - low)
        if value_range > 0:
            scaled = np.clip((grey - low) / value_range, 0.0, 1.0)
        else:
            scaled = np.zeros_like(grey)
        if self._inverts(colours, scaled, value_range):
            scaled = 1.0 - scaled
        return convert_to_dst_type(scaled, img, dtype=self.dtype)[0]

    def _inverts(self, colours: np.ndarray, scaled: np.ndarray, value_range: float) -> bool:
        """Whether to invert, from ``invert`` and (``"auto"``) the colour spread and median brightness."""
        if self.invert != "auto":
            return self.invert == "always"
        if len(colours) > 1 and value_range > 0:
            spread = float(np.mean(colours.max(axis=0) - colours.min(axis=0))) / value_range
            if spread > _COLOUR_SPREAD:
                return True
        return bool(np.median(scaled) > 0.5)


class _LabelTargetd(MapTransform):
    """Apply a label transform to ``keys`` and store the results under ``output_keys`` (default: in place)."""

    def __init__(
        self, keys: KeysCollection, converter: Transform, output_keys: KeysCollection | None, allow_missing_keys: bool
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_keys = self.keys if output_keys is None else ensure_tuple_rep(output_keys, len(self.keys))
        self.converter = converter

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, output_key in self.key_iterator(d, self.output_keys):
            d[output_key] = self.converter(d[key])
        return d


class InstancesToBinaryd(_LabelTargetd):
    """Dictionary version of :class:`InstancesToBinary`.

    Args:
        keys: keys of the instance labels.
        output_keys: keys of the results, one per key; None: replace the labels.
        dtype: output dtype.
        allow_missing_keys: skip missing keys.
    """

    backend = InstancesToBinary.backend

    def __init__(
        self,
        keys: KeysCollection = "label",
        output_keys: KeysCollection | None = None,
        dtype: DtypeLike = np.float32,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, InstancesToBinary(dtype), output_keys, allow_missing_keys)


class InstancesToThreeClassd(_LabelTargetd):
    """Dictionary version of :class:`InstancesToThreeClass`.

    Args:
        keys: keys of the instance labels.
        output_keys: keys of the results, one per key; None: replace the labels.
        border_width: border thickness in pixels.
        connectivity: neighbourhood of one step (1: 4-neighbourhood in 2D).
        dtype: output dtype.
        allow_missing_keys: skip missing keys.
    """

    backend = InstancesToThreeClass.backend

    def __init__(
        self,
        keys: KeysCollection = "label",
        output_keys: KeysCollection | None = None,
        border_width: int = 1,
        connectivity: int = 1,
        dtype: DtypeLike = np.float32,
        allow_missing_keys: bool = False,
    ) -> None:
        converter = InstancesToThreeClass(border_width, connectivity, dtype)
        super().__init__(keys, converter, output_keys, allow_missing_keys)


class ToSingleChanneld(MapTransform):
    """Dictionary version of :class:`ToSingleChannel` (in place).

    Args:
        keys: keys of the images.
        lower: lower intensity percentile, mapped to 0.
        upper: upper intensity percentile, mapped to 1.
        invert: ``"never"``, ``"auto"`` or ``"always"``.
        dtype: output dtype.
        allow_missing_keys: skip missing keys.
    """

    backend = ToSingleChannel.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        lower: float = 1.0,
        upper: float = 99.8,
        invert: str = "never",
        dtype: DtypeLike = np.float32,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = ToSingleChannel(lower, upper, invert, dtype)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d


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
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.instance_keys = ensure_tuple_rep(instance_keys, len(self.keys))
        self.channel = channel
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
            labels = instances_from_binary(foreground, **self.options)
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


InstancesFromBinaryD = InstancesFromBinaryDict = InstancesFromBinaryd
InstancesFromThreeClassD = InstancesFromThreeClassDict = InstancesFromThreeClassd
InstancesToBinaryD = InstancesToBinaryDict = InstancesToBinaryd
InstancesToThreeClassD = InstancesToThreeClassDict = InstancesToThreeClassd
ToSingleChannelD = ToSingleChannelDict = ToSingleChanneld
