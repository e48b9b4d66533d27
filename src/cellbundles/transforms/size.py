"""Nucleus size: the diameter of a sample and size-aware resampling to the network's training scale.

Like Cellpose's ``diameter``: a bundle's network sees nuclei of ``reference_diameter_um`` on its
``model_spacing`` grid. An input whose nuclei are ``D`` micrometres across is resampled to
``model_spacing * D / reference_diameter_um``, i.e. its nuclei span as many voxels as the training
nuclei did, whatever their physical size; ``Invertd`` brings every output back to the input grid.

- :class:`EstimateDiameter`: the typical nucleus diameter of an image
  (:func:`cellbundles.postprocess.estimate_nucleus_diameter`).
- :class:`EstimateDiameterd`: the diameter ``D`` of a sample: measured on its instance labels
  (training), given, or estimated from the image, with a warning naming the file when an estimate
  lies outside the trained range.
- :class:`ScaleToDiameterd`: MONAI ``Spacingd`` to that per-sample spacing (invertible).
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from monai.config import KeysCollection, NdarrayOrTensor
from monai.data import MetaTensor
from monai.data.utils import compute_shape_offset, zoom_affine
from monai.transforms import MapTransform, Spacingd, Transform
from monai.utils import TransformBackends, convert_to_numpy

from cellbundles.postprocess import estimate_nucleus_diameter, median_diameter_um

from .utils import as_instance_labels, describe, is_constant, positive_diameter, resolve_spacing, spatial_array

__all__ = [
    "DIAMETER_KEY",
    "central_crop",
    "EstimateDiameter",
    "EstimateDiameterD",
    "EstimateDiameterDict",
    "EstimateDiameterd",
    "ScaleToDiameterd",
    "ScaleToDiameterD",
    "ScaleToDiameterDict",
]

DIAMETER_KEY = "nucleus_diameter_um"
"""Default data key of the per-sample nucleus diameter in micrometres."""


def central_crop(array: np.ndarray, max_voxels: int) -> np.ndarray:
    """The central part of ``array`` with at most ``max_voxels`` voxels, cut in the last two (y, x) axes only,
    so that a stack keeps all its planes."""
    if array.size <= max_voxels:
        return array
    factor = np.sqrt(max_voxels / array.size)
    box = []
    for axis, size in enumerate(array.shape):
        keep = size if axis < array.ndim - 2 else max(1, int(size * factor))
        start = (size - keep) // 2
        box.append(slice(start, start + keep))
    return array[tuple(box)]


class EstimateDiameter(Transform):
    """Typical nucleus diameter (micrometres) of a ``(1, [D,] H, W)`` fluorescence image.

    Args:
        spacing: voxel size per spatial axis (array order); None: the image's ``pixdim`` (MetaTensor).
        method: ``"scale_space"`` or ``"mask"`` (:func:`cellbundles.postprocess.estimate_nucleus_diameter`).
        min_um: smallest diameter considered.
        max_um: largest diameter considered.
        max_voxels: larger images are measured on their central part of this many voxels (cut in y and x),
            which bounds the time of the estimate (about 10 s for 4 M voxels on one CPU core).
    """

    backend = [TransformBackends.NUMPY]

    def __init__(
        self,
        spacing: Sequence[float] | float | None = None,
        method: str = "scale_space",
        min_um: float = 1.5,
        max_um: float = 40.0,
        max_voxels: int = 2**22,
    ) -> None:
        self.spacing = spacing
        self.method = method
        self.min_um = min_um
        self.max_um = max_um
        self.max_voxels = max_voxels

    def __call__(self, image: NdarrayOrTensor, name: str = "image") -> float:
        array = spatial_array(image, name)
        spacing = resolve_spacing(image, self.spacing, array.ndim, name)
        crop = central_crop(array, self.max_voxels)
        return estimate_nucleus_diameter(crop, spacing, self.method, self.min_um, self.max_um)


class EstimateDiameterd(MapTransform):
    """Store the typical nucleus diameter (micrometres) of a sample under ``diameter_key``.

    Source, in order: a diameter already in the data (set by an earlier transform) is kept; the
    instance labels under ``label_key`` when the sample has them (their median equivalent diameter,
    training); ``diameter`` when it is a number; else (``"auto"``) the estimate of
    :class:`EstimateDiameter`, except for a constant image, which holds no nucleus to measure: it gets the
    geometric middle of ``trained_range_um`` (the estimator's fallback, its smallest diameter, would enlarge
    it up to tenfold per axis only to find nothing). The source is stored under ``diameter_key + "_source"``
    (``"labels"``, ``"given"``, ``"estimated"`` or ``"constant image"``). An estimate outside
    ``trained_range_um`` gives a ``UserWarning`` naming the file and the value (the result may be poor; pass
    the diameter explicitly).

    Args:
        keys: key of the ``(1, [D,] H, W)`` image (one key: the sample has one diameter).
        diameter: ``"auto"`` or a diameter in micrometres.
        label_key: key of channel-first instance labels used when present; None: never.
        diameter_key: output key (a Python float).
        trained_range_um: ``(min, max)`` diameters of the training data; None: no warning.
        spacing, method, min_um, max_um, max_voxels: as in :class:`EstimateDiameter`.
        allow_missing_keys: skip missing keys.
    """

    backend = EstimateDiameter.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        diameter: float | str = "auto",
        label_key: str | None = None,
        diameter_key: str = DIAMETER_KEY,
        trained_range_um: Sequence[float] | None = None,
        spacing: Sequence[float] | float | None = None,
        method: str = "scale_space",
        min_um: float = 1.5,
        max_um: float = 40.0,
        max_voxels: int = 2**22,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError(f"EstimateDiameterd takes one image key, got {self.keys}.")
        self.diameter = diameter if diameter == "auto" else positive_diameter(diameter, "nucleus_diameter_um")
        self.label_key = label_key
        self.diameter_key = diameter_key
        self.trained_range_um = None if trained_range_um is None else tuple(float(v) for v in trained_range_um)
        self.estimator = EstimateDiameter(spacing, method, min_um, max_um, max_voxels)

    def _from_labels(self, d: Mapping[Hashable, object], image: NdarrayOrTensor, key: Hashable) -> float | None:
        if self.label_key is None or self.label_key not in d:
            return None
        labels = d[self.label_key]
        array = as_instance_labels(convert_to_numpy(labels)[0], describe(labels, "labels"))
        return median_diameter_um(array, resolve_spacing(image, self.estimator.spacing, array.ndim, str(key)))

    def _estimate(self, image: NdarrayOrTensor, key: Hashable) -> float:
        diameter = self.estimator(image, str(key))
        if self.trained_range_um is not None and not self.trained_range_um[0] <= diameter <= self.trained_range_um[1]:
            low, high = self.trained_range_um
            warnings.warn(
                f"{describe(image, str(key))}: estimated nucleus diameter {diameter:.2f} um is outside the "
                f"trained range {low:g}-{high:g} um; the result may be wrong: give --nucleus_diameter_um.",
                stacklevel=2,
            )
        return diameter

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        for key in self.key_iterator(d):
            if d.get(self.diameter_key) is not None:
                continue
            diameter, source = self._from_labels(d, d[key], key), "labels"
            if diameter is None and self.diameter != "auto":
                diameter, source = self.diameter, "given"
            if diameter is None and self.trained_range_um is not None and is_constant(d[key]):
                diameter, source = float(np.sqrt(np.prod(self.trained_range_um))), "constant image"
            if diameter is None:
                diameter, source = self._estimate(d[key], key), "estimated"
            d[self.diameter_key] = float(diameter)
            d[self.diameter_key + "_source"] = source
        return d


class ScaleToDiameterd(Spacingd):
    """``Spacingd`` to ``model_spacing * D / reference_diameter_um``, ``D`` read from ``data[diameter_key]``.

    Invertible like ``Spacingd`` (``Invertd`` maps outputs back to the input grid). Without a diameter
    in the sample the target spacing is ``model_spacing``.

    A diameter far below the truth (a wrong estimate, a typo) enlarges the volume by its cube: with ``max_voxels``
    a resampled grid larger than both the input and ``max_voxels`` is refused before any memory is taken, with a
    ``ValueError`` that names the file, the diameter, its source and the size it would have had.

    Args:
        keys: keys to resample.
        model_spacing: the network's training spacing, array order.
        reference_diameter_um: nucleus diameter of the training data on that grid.
        diameter_key: key of the sample's diameter (:class:`EstimateDiameterd`).
        max_voxels: largest enlarged grid accepted, in voxels; None: no limit.
        kwargs: further ``Spacingd`` arguments (``mode``, ``allow_missing_keys``, ...).
    """

    def __init__(
        self,
        keys: KeysCollection,
        model_spacing: Sequence[float],
        reference_diameter_um: float,
        diameter_key: str = DIAMETER_KEY,
        max_voxels: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(keys, pixdim=model_spacing, **kwargs)
        self.model_spacing = np.asarray(model_spacing, dtype=np.float64)
        self.reference_diameter_um = positive_diameter(reference_diameter_um, "reference_diameter_um")
        self.diameter_key = diameter_key
        self.max_voxels = max_voxels

    def _check_size(self, data: Mapping[Hashable, MetaTensor], target_spacing: np.ndarray) -> None:
        """Refuse an enlargement beyond ``max_voxels`` (see the class docstring)."""
        for key in self.key_iterator(data):
            image = data[key]
            shape = image.shape[1:]
            affine = convert_to_numpy(image.affine, wrap_sequence=True)
            resampled = zoom_affine(affine, target_spacing[: len(shape)], diagonal=self.spacing_transform.diagonal)
            new_shape = compute_shape_offset(shape, affine, resampled, self.spacing_transform.scale_extent)[0]
            if np.prod(new_shape) > max(self.max_voxels, np.prod(shape)):
                diameter, source = data.get(self.diameter_key), data.get(self.diameter_key + "_source", "given")
                raise ValueError(
                    f"{describe(image, str(key))}: at a nucleus diameter of {diameter:.2f} um ({source}) it would be "
                    f"resampled to {' x '.join(map(str, new_shape))} = {np.prod(new_shape):,} voxels, more than "
                    f"max_scaled_voxels ({self.max_voxels:,}): give the nuclei's real diameter with "
                    "--nucleus_diameter_um, or raise --max_scaled_voxels if this machine has the memory."
                )

    def __call__(self, data: Mapping[Hashable, MetaTensor], lazy: bool | None = None) -> dict[Hashable, MetaTensor]:
        factor = float(data.get(self.diameter_key) or self.reference_diameter_um) / self.reference_diameter_um
        self.spacing_transform.pixdim = self.model_spacing * factor
        if self.max_voxels is not None and data.get(self.diameter_key) is not None:
            self._check_size(data, self.spacing_transform.pixdim)
        return super().__call__(data, lazy=lazy)


EstimateDiameterD = EstimateDiameterDict = EstimateDiameterd
ScaleToDiameterD = ScaleToDiameterDict = ScaleToDiameterd
