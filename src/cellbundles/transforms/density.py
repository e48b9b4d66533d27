"""Gaussian density targets from nucleus centroids (seed 000, section 2.2).

Each centroid becomes a Gaussian of standard deviation ``sigma_um`` (1 um in the paper) converted
to voxels per axis with the image spacing, normalised so that it sums to one; the density map is
their sum, so it integrates to the number of nuclei.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from monai.config import DtypeLike, KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_numpy, ensure_tuple_rep

from cellbundles.io.centroids import read_centroids_csv

from .utils import resolve_spacing

__all__ = [
    "CentroidsToDensity",
    "CentroidsToDensityD",
    "CentroidsToDensityDict",
    "CentroidsToDensityd",
    "render_gaussian_density",
]

# number of (centroid, window voxel) pairs rendered at once; bounds the memory of one chunk to ~200 MB
_CHUNK_ELEMENTS = 1 << 23


def _as_centroid_array(centroids: object, spatial_dims: int) -> np.ndarray:
    """Centroids as a finite ``(N, spatial_dims)`` float64 array, or a clear ``ValueError``."""
    array = np.asarray(convert_to_numpy(centroids), dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, spatial_dims), dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != spatial_dims:
        raise ValueError(f"centroids must have shape (N, {spatial_dims}), got {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError("centroids contain NaN or Inf.")
    return array


def render_gaussian_density(
    centroids: np.ndarray, spatial_shape: Sequence[int], sigma_voxels: Sequence[float], truncate: float = 4.0
) -> np.ndarray:
    """Sum of normalised Gaussians at ``centroids``, rendered in a bounded window per centroid.

    The Gaussian of each centroid is evaluated at the voxel centres within ``truncate`` standard
    deviations of the (sub-voxel) centroid on every axis and normalised so that the window sums to
    one; the rendering is vectorised over centroids (in chunks of bounded memory) and accumulated
    with ``np.bincount``. Mass that falls outside the volume is dropped, so only centroids well
    inside the volume contribute exactly one.

    Args:
        centroids: ``(N, D)`` voxel coordinates in array axis order (``z, y, x`` for 3D).
        spatial_shape: ``(D,)`` shape of the output.
        sigma_voxels: standard deviation per axis, in voxels.
        truncate: window half-width in standard deviations.

    Returns:
        float64 array of shape ``spatial_shape``.
    """
    shape = tuple(int(s) for s in spatial_shape)
    sigma = np.asarray(sigma_voxels, dtype=np.float64)
    centroids = _as_centroid_array(centroids, len(shape))
    if sigma.shape != (len(shape),) or np.any(sigma <= 0):
        raise ValueError(f"sigma_voxels must hold {len(shape)} positive values, got {sigma.tolist()}.")
    if truncate <= 0:
        raise ValueError(f"truncate must be positive, got {truncate}.")
    size = int(np.prod(shape))
    density = np.zeros(size, dtype=np.float64)
    radii = np.maximum(np.ceil(truncate * sigma).astype(np.int64), 1)
    offsets = [np.arange(-r, r + 1) for r in radii]
    strides = np.cumprod((shape[1:] + (1,))[::-1])[::-1]
    window = int(np.prod([len(o) for o in offsets]))
    chunk = max(1, _CHUNK_ELEMENTS // window)
    for start in range(0, len(centroids), chunk):
        points = centroids[start : start + chunk]
        nearest = np.rint(points).astype(np.int64)
        flat_index = np.zeros((len(points),) + (1,) * len(shape), dtype=np.int64)
        values = np.ones_like(flat_index, dtype=np.float64)
        for axis, (offset, n, s, stride) in enumerate(zip(offsets, shape, sigma, strides)):
            position = nearest[:, axis, None] + offset[None, :]
            profile = np.exp(-0.5 * ((position - points[:, axis, None]) / s) ** 2)
            profile /= profile.sum(axis=1, keepdims=True)
            inside = (position >= 0) & (position < n)
            profile = np.where(inside, profile, 0.0)
            position = np.clip(position, 0, n - 1)
            view = [len(points)] + [1] * len(shape)
            view[axis + 1] = len(offset)
            flat_index = flat_index + (position * stride).reshape(view)
            values = values * profile.reshape(view)
        density += np.bincount(flat_index.ravel(), weights=values.ravel(), minlength=size)
    return density.reshape(shape)


class CentroidsToDensity(Transform):
    """Density target from centroids: a normalised Gaussian per nucleus (seed 000, section 2.2).

    ``sigma_um`` is converted to voxels per axis with the spacing (``sigma_um / spacing``), so
    an anisotropic volume gets an anisotropic Gaussian in voxels that is isotropic in microns.
    The spacing is the explicit ``spacing`` argument if given, else the ``pixdim`` of the
    reference MetaTensor. The map integrates to the number of centroids lying well inside the volume.

    Args:
        sigma_um: standard deviation of each Gaussian in physical units (paper: 1 um), one value or one per axis.
        spacing: voxel spacing in array axis order (``z, y, x``); None: take it from the reference MetaTensor.
        truncate: half-width of the window rendered around each centroid, in standard deviations.
        dtype: output dtype.
    """

    backend = [TransformBackends.NUMPY]

    def __init__(
        self,
        sigma_um: Sequence[float] | float = 1.0,
        spacing: Sequence[float] | float | None = None,
        truncate: float = 4.0,
        dtype: DtypeLike = np.float32,
    ) -> None:
        self.sigma_um = sigma_um
        self.spacing = spacing
        self.truncate = truncate
        self.dtype = dtype

    def __call__(
        self, centroids: NdarrayOrTensor | Sequence | str | os.PathLike, reference: NdarrayOrTensor | Sequence[int]
    ) -> NdarrayOrTensor:
        """
        Args:
            centroids: ``(N, D)`` voxel coordinates in array axis order (``N`` may be 0), or the path
                of a centroid CSV file of the canonical layout (``z,y,x`` voxel columns).
            reference: the channel-first image ``(C, [D,] H, W)`` the density belongs to (its spatial
                shape, spacing and metadata are used), or a spatial shape ``([D,] H, W)``.

        Returns:
            ``(1, [D,] H, W)`` density of the type of ``reference`` (numpy if a shape was given).
        """
        if isinstance(centroids, (str, os.PathLike)):
            centroids = read_centroids_csv(centroids)
        if isinstance(reference, (tuple, list)):
            spatial_shape, reference = tuple(int(s) for s in reference), None
        else:
            spatial_shape = tuple(reference.shape[1:])
        spacing = resolve_spacing(reference, self.spacing, len(spatial_shape), name="the density reference image")
        sigma_voxels = np.asarray(ensure_tuple_rep(self.sigma_um, len(spatial_shape)), dtype=np.float64) / spacing
        density = render_gaussian_density(centroids, spatial_shape, sigma_voxels, self.truncate)[None]
        if reference is None:
            return density.astype(self.dtype)
        return convert_to_dst_type(density, reference, dtype=self.dtype)[0]


class CentroidsToDensityd(MapTransform):
    """Dictionary version of :class:`CentroidsToDensity`.

    Args:
        keys: keys of the ``(N, D)`` centroid arrays (or centroid CSV paths).
        ref_key: key of the channel-first image giving the spatial shape, spacing and metadata.
        density_keys: output keys, one per key in ``keys``.
        sigma_um: see :class:`CentroidsToDensity`.
        spacing: see :class:`CentroidsToDensity`.
        truncate: see :class:`CentroidsToDensity`.
        dtype: see :class:`CentroidsToDensity`.
        allow_missing_keys: skip missing centroid keys (samples without centroid annotation).

    The centroid arrays differ in length between samples: delete them (MONAI ``DeleteItemsd``)
    before batching.
    """

    backend = CentroidsToDensity.backend

    def __init__(
        self,
        keys: KeysCollection = "centroids",
        ref_key: str = "image",
        density_keys: KeysCollection = "density",
        sigma_um: Sequence[float] | float = 1.0,
        spacing: Sequence[float] | float | None = None,
        truncate: float = 4.0,
        dtype: DtypeLike = np.float32,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.ref_key = ref_key
        self.density_keys = ensure_tuple_rep(density_keys, len(self.keys))
        self.converter = CentroidsToDensity(sigma_um=sigma_um, spacing=spacing, truncate=truncate, dtype=dtype)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key, density_key in self.key_iterator(d, self.density_keys):
            d[density_key] = self.converter(d[key], d[self.ref_key])
        return d


CentroidsToDensityD = CentroidsToDensityDict = CentroidsToDensityd
