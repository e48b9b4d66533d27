"""Training targets of the 2D semantic segmentation bundles from instance labels (seeds 002 and 003).

- :class:`InstancesToBinary`: instance labels -> binary foreground (seed 002's target).
- :class:`InstancesToThreeClass`: instance labels -> background / nucleus interior / border classes
  (seed 003's simple CNN target; the border class is what lets instances be separated again, see
  :func:`cellbundles.postprocess.instances_from_three_class`).
- :func:`contact_pixels`, :func:`seamed_foreground`: the pixels where two objects touch, and the foreground
  without them (our addition: the foreground target of the ResUNet and, with ``gap_width``, of
  :class:`InstancesToBinary`, so that touching nuclei are learnt as separate blobs).

References:
    Seed 002, "Nuclei Segmentation in Cell Images using Fully Convolutional Neural Networks";
    seed 003, a benchmark of deep learning methods for nuclei segmentation on DSB2018 (Methods,
    simple CNN). Full citations: docs/design.md, "Bundles".
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from monai.config import DtypeLike, KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_numpy, ensure_tuple_rep
from scipy import ndimage

from .utils import as_instance_labels, describe

__all__ = [
    "InstancesToBinary",
    "InstancesToBinaryD",
    "InstancesToBinaryDict",
    "InstancesToBinaryd",
    "InstancesToThreeClass",
    "InstancesToThreeClassD",
    "InstancesToThreeClassDict",
    "InstancesToThreeClassd",
    "contact_pixels",
    "seamed_foreground",
    "three_class_map",
]


def contact_pixels(labels: np.ndarray, width: int = 1) -> np.ndarray:
    """Pixels of an object that lie within ``width`` steps (full neighbourhood) of another object.

    Unlike the border of :func:`three_class_map`, an object's edge on the background is not a contact:
    only the seams between touching objects are marked, on both sides (a seam ``2 * width`` wide).

    Args:
        labels: ``([D,] H, W)`` instance labels, 0 background.
        width: half-width of the seam in pixels; 0 marks nothing.

    Returns:
        bool array of the shape of ``labels``.
    """
    labels = as_instance_labels(labels)
    if width < 0 or int(width) != width:
        raise ValueError(f"width must be a non-negative integer, got {width}.")
    if width == 0:
        return np.zeros(labels.shape, dtype=bool)
    return _near_another_value(labels, int(width), labels.ndim, background_counts=False)


def seamed_foreground(labels: np.ndarray, gap_width: int = 0) -> np.ndarray:
    """Foreground of instance labels without the :func:`contact_pixels` of ``gap_width``: touching objects
    become separate blobs, a background seam ``2 * gap_width`` wide between them.

    Args:
        labels: ``([D,] H, W)`` instance labels, 0 background.
        gap_width: half-width of the seam in pixels; 0: the plain foreground.

    Returns:
        bool array of the shape of ``labels``.
    """
    return (labels > 0) & ~contact_pixels(labels, gap_width)


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
    if border_width == 0:
        return classes
    classes[_near_another_value(labels, int(border_width), connectivity, background_counts=True)] = 2
    return classes


def _near_another_value(labels: np.ndarray, steps: int, connectivity: int, background_counts: bool) -> np.ndarray:
    """Object pixels with another label value within ``steps`` steps of the ``connectivity`` neighbourhood.

    With ``background_counts`` an object's edge on the background qualifies (a border); without, only another
    object does (a contact). The image edge never does (``mode="nearest"``).
    """
    objects = labels > 0
    if not objects.any():
        return objects
    footprint = ndimage.iterate_structure(ndimage.generate_binary_structure(labels.ndim, connectivity), steps)
    lowest_source = labels if background_counts else np.where(objects, labels, np.iinfo(labels.dtype).max)
    largest = ndimage.maximum_filter(labels, footprint=footprint, mode="nearest")
    smallest = ndimage.minimum_filter(lowest_source, footprint=footprint, mode="nearest")
    return objects & ((largest != labels) | (smallest != labels))


class InstancesToBinary(Transform):
    """Binary foreground (1 inside any object, 0 background) of instance labels of any shape.

    With ``gap_width > 0`` the pixels where two objects touch (:func:`contact_pixels`) are background, so
    that a network learns touching nuclei as separate blobs (our addition to the seeds' target; see
    :func:`cellbundles.postprocess.grow_instances` to give the seam back after inference).

    Args:
        dtype: output dtype (float32 suits MONAI losses and metrics).
        gap_width: half-width in pixels of the background seam between touching objects (0: none).
    """

    backend = [TransformBackends.NUMPY]

    def __init__(self, dtype: DtypeLike = np.float32, gap_width: int = 0) -> None:
        self.dtype = dtype
        self.gap_width = gap_width

    def __call__(self, labels: NdarrayOrTensor) -> NdarrayOrTensor:
        """
        Args:
            labels: ``(1, [D,] H, W)`` instance labels, 0 background.

        Returns:
            foreground of the shape and type of ``labels`` (a MetaTensor keeps its metadata).
        """
        array = as_instance_labels(convert_to_numpy(labels), describe(labels, "instance labels"))
        foreground = np.stack([seamed_foreground(channel, self.gap_width) for channel in array])
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
        gap_width: half-width in pixels of the background seam between touching objects (0: none).
        allow_missing_keys: skip missing keys.
    """

    backend = InstancesToBinary.backend

    def __init__(
        self,
        keys: KeysCollection = "label",
        output_keys: KeysCollection | None = None,
        dtype: DtypeLike = np.float32,
        gap_width: int = 0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, InstancesToBinary(dtype, gap_width), output_keys, allow_missing_keys)


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


InstancesToBinaryD = InstancesToBinaryDict = InstancesToBinaryd
InstancesToThreeClassD = InstancesToThreeClassDict = InstancesToThreeClassd
