"""Voxel spacing of loaded images: overriding or requiring it, and mapping points back to the input grid.

Bundles resample every input to the spacing their network was trained at (MONAI ``Spacingd``),
post-process on that grid, and give results back on the input's own grid: images through
``Invertd``, point lists through :class:`PointsToInputGridd`; annotated points (centroid files)
go the other way with ``inverse=True``.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform
from monai.utils import convert_to_numpy, ensure_tuple_rep

from cellbundles.io import read_centroids_csv
from cellbundles.utils import spacing_from_affine

from .utils import describe

__all__ = ["EnsureSpacingd", "PointsToInputGridd", "points_to_input_grid"]


class EnsureSpacingd(MapTransform):
    """Give loaded images a known voxel spacing, or stop with an error that names the file.

    :class:`cellbundles.io.TiffReader` sets ``meta["spacing_known"] = False`` (and unit spacing) for
    files without a voxel size. Resampling such an image to a physical spacing would silently
    rescale it, so this transform either applies the user's ``spacing`` (one value per spatial axis,
    array order) to the affine and the original affine, or raises a ``ValueError``.

    A file without a voxel size may instead take that of ``reference_key`` (e.g. a label drawn in a
    tool that saves no voxel size takes its image's), when both have the same spatial shape.

    Args:
        keys: keys of channel-first MetaTensors.
        spacing: spacing to impose, e.g. from a bundle's ``input_spacing``; None keeps the file's.
        require: raise when neither the file nor ``spacing`` (nor ``reference_key``) gives one.
        reference_key: key of an image whose known spacing the others may take; None: none.
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        spacing: Sequence[float] | None = None,
        require: bool = True,
        reference_key: str | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.spacing = None if spacing is None else [float(s) for s in spacing]
        self.require = require
        self.reference_key = reference_key

    def __call__(self, data: Mapping[Hashable, MetaTensor]) -> dict[Hashable, MetaTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            if not isinstance(image, MetaTensor):
                raise ValueError(f"{key}: expected a MetaTensor with an affine, got {type(image).__name__}.")
            spatial_dims = image.ndim - 1
            if self.spacing is not None:
                if len(self.spacing) != spatial_dims or not all(np.isfinite(s) and s > 0 for s in self.spacing):
                    raise ValueError(
                        f"{describe(image, key)}: input_spacing must hold {spatial_dims} positive values, "
                        f"got {self.spacing}."
                    )
                _set_spacing(image, self.spacing)
            elif not image.meta.get("spacing_known", True) and self._reference_spacing(d, image) is not None:
                _set_spacing(image, self._reference_spacing(d, image))
            elif self.require and not image.meta.get("spacing_known", True):
                raise ValueError(
                    f"{describe(image, key)}: the file states no voxel size (or a zero or negative one); "
                    "give it with --input_spacing \"[z, y, x]\" (micrometres, [y, x] for 2D images)."
                )
        return d

    def _reference_spacing(self, data: Mapping[Hashable, MetaTensor], image: MetaTensor) -> list[float] | None:
        """The known spacing of ``data[reference_key]`` when it has ``image``'s spatial shape, else None."""
        reference = data.get(self.reference_key) if self.reference_key is not None else None
        if not isinstance(reference, MetaTensor) or not reference.meta.get("spacing_known", True):
            return None
        if reference is image or reference.shape[1:] != image.shape[1:]:
            return None
        return [float(s) for s in reference.pixdim]


def _set_spacing(image: MetaTensor, spacing: Sequence[float]) -> None:
    """Give ``image`` a diagonal affine (and original affine) of ``spacing``, marked as known."""
    spatial_dims = image.ndim - 1
    affine = torch.eye(spatial_dims + 1, dtype=torch.float64)
    affine[:spatial_dims, :spatial_dims] = torch.diag(torch.tensor(list(spacing), dtype=torch.float64))
    image.affine = affine
    image.meta["original_affine"] = affine.numpy().copy()
    image.meta["spacing"] = np.asarray(spacing)
    image.meta["spacing_known"] = True


def points_to_input_grid(
    points: np.ndarray, affine: np.ndarray, original_affine: np.ndarray, inverse: bool = False
) -> np.ndarray:
    """Map ``(N, D)`` voxel coordinates of a resampled image to the voxel grid of the loaded file.

    Both affines map voxel indices to the same physical space (``D + 1`` square matrices), so a point
    ``p`` becomes ``inv(original_affine) @ affine @ [p, 1]``; with ``inverse`` the file's voxel
    coordinates are mapped onto the resampled grid instead.

    Raises:
        ValueError: when ``points`` is not ``(N, D)`` for the ``D + 1`` square affines.
    """
    if inverse:
        affine, original_affine = original_affine, affine
    points = np.asarray(points, dtype=np.float64)
    spatial_dims = np.asarray(affine).shape[0] - 1
    if points.size == 0:
        points = points.reshape(0, spatial_dims)
    if points.ndim != 2 or points.shape[1] != spatial_dims:
        raise ValueError(f"points must be an (N, {spatial_dims}) array of voxel coordinates, got shape {points.shape}.")
    homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1)
    mapping = np.linalg.solve(np.asarray(original_affine, dtype=np.float64), np.asarray(affine, dtype=np.float64))
    return (homogeneous @ mapping.T)[:, :spatial_dims]


class PointsToInputGridd(MapTransform):
    """Voxel coordinates on the network's grid -> voxel coordinates of the input file (see module doc).

    Args:
        keys: keys of ``(N, D)`` point arrays on the grid of ``ref_key`` (with ``inverse``: on the file's
            grid), or of centroid CSV files of the canonical layout, which are read first.
        ref_key: the resampled image; its ``affine`` and ``meta["original_affine"]`` are used.
        output_keys: where to store the mapped points (default: overwrite ``keys``).
        inverse: map voxel coordinates of the input file onto the resampled grid instead.
        in_um: give the mapped points in micrometres of the input file (its voxel coordinates x its voxel size), so
            points of volumes with different voxel sizes can be matched with one radius in um; not with ``inverse``.
        allow_missing_keys: skip missing keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        ref_key: str = "image",
        output_keys: KeysCollection | None = None,
        inverse: bool = False,
        in_um: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if inverse and in_um:
            raise ValueError("in_um gives points of the input file in um; it cannot be combined with inverse.")
        self.ref_key = ref_key
        self.inverse = inverse
        self.in_um = in_um
        self.output_keys = ensure_tuple_rep(output_keys, len(self.keys)) if output_keys else self.keys

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        reference = d[self.ref_key]
        if not isinstance(reference, MetaTensor) or "original_affine" not in reference.meta:
            raise ValueError(f"{self.ref_key} must be a MetaTensor loaded from a file (with an original affine).")
        affine = convert_to_numpy(reference.affine)
        original_affine = convert_to_numpy(reference.meta["original_affine"])
        for key, output_key in self.key_iterator(d, self.output_keys):
            points = d[key]
            source = f"{key} ({points})" if isinstance(points, (str, os.PathLike)) else str(key)
            points = read_centroids_csv(points) if isinstance(points, (str, os.PathLike)) else convert_to_numpy(points)
            try:
                mapped = points_to_input_grid(points, affine, original_affine, self.inverse)
            except ValueError as error:
                raise ValueError(f"{source}: {error}") from None
            d[output_key] = mapped * spacing_from_affine(original_affine) if self.in_um else mapped
        return d
