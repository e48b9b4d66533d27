"""Building blocks shared by the phantom generators: random rotations, star-shaped ellipsoids rasterised inside
their bounding box, non-overlapping (or touching) placement on a label canvas, instance contours, band-limited
texture and the fluorescence acquisition model (PSF blur, background, Poisson and Gaussian noise).

Coordinates follow the array axes, ``(z, y, x)`` in 3D and ``(y, x)`` in 2D. Object centres are in voxels; semi-axes,
rotations and outline perturbations live in physical units, which the per-axis ``spacing`` converts to voxels, so
one object looks the same in micrometres whatever the (anisotropic) sampling.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from cellbundles.utils import spacing_array

__all__ = [
    "SeedLike",
    "StarEllipsoid",
    "LabelCanvas",
    "random_rotations",
    "sample_star_ellipsoid",
    "place_randomly",
    "place_touching",
    "instance_contour",
    "label_centroids",
    "shape_marker",
    "band_limited_noise",
    "simulate_acquisition",
    "check_shape",
    "check_range",
    "check_spacing",
]

SeedLike = int | np.random.SeedSequence | np.random.Generator | None
"""Anything ``numpy.random.default_rng`` accepts as a seed."""


def check_shape(shape: Sequence[int], spatial_dims: int, name: str = "shape") -> tuple[int, ...]:
    """Return ``shape`` as a tuple of ``spatial_dims`` positive ints, or raise ``ValueError``."""
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    if len(shape) != spatial_dims or min(shape) < 1:
        raise ValueError(f"{name} must be {spatial_dims} positive sizes, got {shape}.")
    return shape


def check_spacing(spacing: Sequence[float] | float, spatial_dims: int) -> tuple[float, ...]:
    """``spacing`` as a tuple of ``spatial_dims`` floats (validated by :func:`cellbundles.utils.spacing_array`)."""
    return tuple(float(s) for s in spacing_array(spacing, spatial_dims))


def check_range(name: str, value: Sequence[float], low: float = 0.0, high: float = np.inf) -> tuple[float, float]:
    """Return ``value`` as a ``(min, max)`` pair with ``low <= min <= max <= high``, or raise ``ValueError``."""
    pair = tuple(float(v) for v in value)
    if len(pair) != 2 or not (low <= pair[0] <= pair[1] <= high):
        raise ValueError(f"{name} must be a (min, max) pair with {low} <= min <= max <= {high}, got {value}.")
    return pair  # type: ignore[return-value]


def random_rotations(rng: np.random.Generator, n: int, spatial_dims: int) -> np.ndarray:
    """Draw ``n`` rotation matrices uniformly from SO(``spatial_dims``).

    3D: unit quaternions from normalised 4D Gaussian vectors (uniform on the 3-sphere, hence Haar-uniform on SO(3);
    Shoemake, "Uniform random rotations", Graphics Gems III, 1992). 2D: an angle uniform in [0, 2 pi).

    Returns:
        array ``(n, D, D)``; each matrix is orthonormal with determinant +1, its columns the rotated axes.
    """
    if spatial_dims == 2:
        angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
        cos, sin = np.cos(angle), np.sin(angle)
        return np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    if spatial_dims != 3:
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
    quaternion = rng.standard_normal((n, 4))
    quaternion /= np.linalg.norm(quaternion, axis=1, keepdims=True)
    w, x, y, z = quaternion.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


@dataclasses.dataclass(frozen=True)
class StarEllipsoid:
    """An ellipsoid (ellipse in 2D) whose outline is optionally perturbed by a smooth function of direction.

    A point at physical offset ``d`` from the centre has body coordinates ``q = R^T d`` and normalised coordinates
    ``v = q / semi_axes``. It lies inside when ``|v| <= 1 + f(v / |v|)`` with
    ``f(u) = sum_w amplitude_w cos(k_w . u + phase_w)``: a few random plane waves on the unit sphere, so that
    ``|f| <= sum |amplitude|`` (the irregularity) and the outline stays star-shaped and smooth.

    Attributes:
        centre: ``(D,)`` centre in voxel coordinates.
        semi_axes: ``(D,)`` semi-axes in physical units (before rotation).
        rotation: ``(D, D)`` rotation matrix, columns are the principal axes in array axis order.
        wave_vectors: ``(W, D)`` wave vectors of the outline perturbation (``W`` may be 0).
        wave_phases: ``(W,)`` phases.
        wave_amplitudes: ``(W,)`` non-negative amplitudes.
    """

    centre: np.ndarray
    semi_axes: np.ndarray
    rotation: np.ndarray
    wave_vectors: np.ndarray
    wave_phases: np.ndarray
    wave_amplitudes: np.ndarray

    @property
    def irregularity(self) -> float:
        """Largest relative deviation of the outline from the ellipsoid."""
        return float(np.sum(self.wave_amplitudes))

    def moved_to(self, centre: Sequence[float]) -> StarEllipsoid:
        """Return the same shape centred at ``centre`` (voxels)."""
        return dataclasses.replace(self, centre=np.asarray(centre, dtype=float))

    def half_extent(self, spacing: Sequence[float]) -> np.ndarray:
        """``(D,)`` half-size in voxels of the axis-aligned box that holds the shape."""
        physical = np.sqrt((self.rotation**2) @ (self.semi_axes**2)) * (1.0 + self.irregularity)
        return physical / np.asarray(spacing, dtype=float)

    def bounding_box(self, spacing: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Voxel box ``[lo, hi)`` per axis (not clipped to any image)."""
        half = self.half_extent(spacing)
        return np.floor(self.centre - half).astype(int), np.floor(self.centre + half).astype(int) + 1

    def normalized_radius(self, lo: Sequence[int], hi: Sequence[int], spacing: Sequence[float]) -> np.ndarray:
        """Normalised radius of every voxel of the box ``[lo, hi)``: below 1 inside, 1 on the outline.

        Returns:
            float array of shape ``hi - lo``.
        """
        offsets = np.meshgrid(
            *[(np.arange(a, b) - c) * s for a, b, c, s in zip(lo, hi, self.centre, spacing)],
            indexing="ij",
            sparse=True,
        )
        normalized = [
            sum(self.rotation[j, k] * offsets[j] for j in range(len(offsets))) / self.semi_axes[k]
            for k in range(len(offsets))
        ]
        normalized = np.stack(np.broadcast_arrays(*normalized))
        radius = np.sqrt(np.sum(normalized**2, axis=0))
        if len(self.wave_amplitudes) == 0:
            return radius
        direction = normalized / np.maximum(radius, 1e-12)
        projection = np.tensordot(self.wave_vectors, direction, axes=(1, 0))
        phases = self.wave_phases.reshape((-1,) + (1,) * radius.ndim)
        amplitudes = self.wave_amplitudes.reshape(phases.shape)
        return radius / (1.0 + np.sum(amplitudes * np.cos(projection + phases), axis=0))

    def clipped_box(self, spacing: Sequence[float], image_shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The bounding box clipped to an image (empty along an axis where ``hi <= lo``)."""
        lo, hi = self.bounding_box(spacing)
        return np.maximum(lo, 0), np.maximum(np.minimum(hi, image_shape), np.maximum(lo, 0))

    def rasterize(self, spacing: Sequence[float], image_shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray, bool]:
        """Voxelise the shape inside its bounding box, clipped to an image.

        Returns:
            ``(lo, mask, complete)``: the box corner in the image, the boolean mask over the clipped box (possibly
            empty) and whether the unclipped box lies entirely inside the image.
        """
        lo, hi = self.clipped_box(spacing, image_shape)
        full_lo, full_hi = self.bounding_box(spacing)
        complete = bool(np.array_equal(lo, full_lo) and np.array_equal(hi, full_hi))
        return lo, self.normalized_radius(lo, hi, spacing) <= 1.0, complete


def sample_star_ellipsoid(
    rng: np.random.Generator,
    spatial_dims: int,
    radius_range: Sequence[float],
    irregularity: float = 0.0,
    frequency_range: Sequence[float] = (2.0, 6.0),
    n_waves: int = 4,
) -> StarEllipsoid:
    """Draw a randomly oriented shape centred at the origin.

    Each semi-axis is drawn independently and uniformly from ``radius_range`` (physical units), the orientation
    uniformly from SO(D) (see :func:`random_rotations`), and, when ``irregularity > 0``, ``n_waves`` plane waves with
    random directions, wave numbers in ``frequency_range`` and amplitudes summing to ``irregularity``.
    """
    semi_axes = rng.uniform(radius_range[0], radius_range[1], size=spatial_dims)
    rotation = random_rotations(rng, 1, spatial_dims)[0]
    n_waves = n_waves if irregularity > 0 else 0
    directions = rng.standard_normal((n_waves, spatial_dims))
    directions /= np.maximum(np.linalg.norm(directions, axis=1, keepdims=True), 1e-12)
    wave_vectors = directions * rng.uniform(frequency_range[0], frequency_range[1], size=(n_waves, 1))
    weights = rng.uniform(0.2, 1.0, size=n_waves)
    return StarEllipsoid(
        centre=np.zeros(spatial_dims),
        semi_axes=semi_axes,
        rotation=rotation,
        wave_vectors=wave_vectors,
        wave_phases=rng.uniform(0.0, 2.0 * np.pi, size=n_waves),
        wave_amplitudes=irregularity * weights / max(float(weights.sum()), 1e-12),
    )


class LabelCanvas:
    """Instance label image that objects are added to one at a time, each computed only inside its box.

    Args:
        shape: image shape, ``(Z, Y, X)`` or ``(H, W)``.
        spacing: physical size of a voxel along each axis.
    """

    def __init__(self, shape: Sequence[int], spacing: Sequence[float]) -> None:
        self.labels = np.zeros(tuple(shape), dtype=np.uint16)
        self.spacing = tuple(float(s) for s in spacing)
        self.count = 0

    def labels_near(self, lo: np.ndarray, mask: np.ndarray, distance: int = 0, connectivity: int | None = None) -> set:
        """Labels (other than 0) within ``distance`` voxels of ``mask`` placed at ``lo``.

        Args:
            lo: corner of ``mask`` in the image.
            mask: boolean mask, lying inside the image.
            distance: number of dilation steps; 0 returns the labels that ``mask`` overlaps.
            connectivity: neighbourhood of one step (1 = faces only, ``ndim`` = all neighbours, the default).
        """
        ndim = self.labels.ndim
        ext_lo = np.maximum(lo - distance, 0)
        ext_hi = np.minimum(lo + np.array(mask.shape) + distance, self.labels.shape)
        region = self.labels[tuple(slice(a, b) for a, b in zip(ext_lo, ext_hi))]
        grown = np.zeros(region.shape, dtype=bool)
        grown[tuple(slice(a, a + m) for a, m in zip(lo - ext_lo, mask.shape))] = mask
        if distance > 0:
            structure = ndimage.generate_binary_structure(ndim, connectivity or ndim)
            grown = ndimage.binary_dilation(grown, structure=structure, iterations=distance)
        found = np.unique(region[grown])
        return set(found[found != 0].tolist())

    def add(self, lo: np.ndarray, mask: np.ndarray) -> int:
        """Write ``mask`` (placed at ``lo``) into the canvas as a new label; return that label."""
        if self.count >= np.iinfo(self.labels.dtype).max:
            raise ValueError(f"at most {np.iinfo(self.labels.dtype).max} objects fit in a uint16 label image.")
        self.count += 1
        region = self.labels[tuple(slice(a, a + m) for a, m in zip(lo, mask.shape))]
        region[mask] = self.count
        return self.count


def place_randomly(
    canvas: LabelCanvas,
    shape: StarEllipsoid,
    rng: np.random.Generator,
    gap: int = 1,
    max_attempts: int = 1000,
    inside: bool = True,
) -> StarEllipsoid | None:
    """Rejection-sample a centre where ``shape`` lies inside the image with no label within ``gap`` voxels.

    With ``gap >= 1`` the new object is not adjacent (even diagonally) to any other. With ``inside=False`` the centre
    is drawn anywhere in the image and the object may cross the border, where it is cut. The object is added to the
    canvas on success.

    Returns:
        the placed shape, or ``None`` after ``max_attempts`` failures.
    """
    margin = np.ceil(shape.half_extent(canvas.spacing)) if inside else np.zeros(canvas.labels.ndim)
    low = margin
    high = np.array(canvas.labels.shape) - 1 - margin
    if np.any(high < low):
        return None
    for _ in range(max_attempts):
        centre = rng.uniform(low, high)
        if canvas.labels[tuple(np.round(centre).astype(int))]:
            continue  # the centre voxel is taken: the shape overlaps a label, no need to rasterise it
        candidate = shape.moved_to(centre)
        lo, mask, complete = candidate.rasterize(canvas.spacing, canvas.labels.shape)
        if (complete or not inside) and mask.any() and not canvas.labels_near(lo, mask, distance=gap):
            canvas.add(lo, mask)
            return candidate
    return None


def place_touching(
    canvas: LabelCanvas,
    shape: StarEllipsoid,
    partners: Sequence[StarEllipsoid],
    rng: np.random.Generator,
    max_attempts: int = 1000,
    steps: int = 12,
) -> StarEllipsoid | None:
    """Place ``shape`` in contact with an already placed object, without overlapping any.

    Each attempt picks a partner (label ``index + 1`` of ``partners``) and a random direction, then bisects the
    distance along that direction between "overlaps the partner" (distance 0) and "clear of it" (sum of both
    bounding radii) for ``steps`` halvings. The clear end is accepted when it lies inside the image, overlaps no
    label and shares a face with the partner. The object is added to the canvas on success.

    Returns:
        the placed shape, or ``None`` after ``max_attempts`` failures.
    """
    spacing = np.asarray(canvas.spacing)
    ndim = len(spacing)

    def overlaps(candidate: StarEllipsoid, label: int) -> bool:
        lo, mask, _ = candidate.rasterize(spacing, canvas.labels.shape)
        return label in canvas.labels_near(lo, mask) if mask.size else False

    for _ in range(max_attempts):
        label = int(rng.integers(len(partners))) + 1
        partner = partners[label - 1]
        direction = rng.standard_normal(ndim)
        direction /= max(np.linalg.norm(direction), 1e-12)
        near, far = 0.0, sum(
            float(np.max(s.semi_axes)) * (1.0 + s.irregularity) for s in (partner, shape)
        ) + 2.0 * float(spacing.max())
        for _ in range(steps):
            middle = 0.5 * (near + far)
            if overlaps(shape.moved_to(partner.centre + middle * direction / spacing), label):
                near = middle
            else:
                far = middle
        candidate = shape.moved_to(partner.centre + far * direction / spacing)
        lo, mask, complete = candidate.rasterize(spacing, canvas.labels.shape)
        if (
            complete
            and mask.any()
            and not canvas.labels_near(lo, mask)
            and label in canvas.labels_near(lo, mask, distance=1, connectivity=1)
        ):
            canvas.add(lo, mask)
            return candidate
    return None


def instance_contour(labels: np.ndarray) -> np.ndarray:
    """Boundary voxels of every labelled object: voxels with a face neighbour of another value (or the image edge).

    Touching objects each keep their own boundary, so the contour separates them (I_contour of seed 001).

    Args:
        labels: instance label image ``(Z, Y, X)`` or ``(H, W)``, 0 = background.

    Returns:
        uint8 array of the same shape, 1 on boundary voxels.
    """
    padded = np.pad(labels, 1, mode="constant")
    inner = tuple(slice(1, -1) for _ in range(labels.ndim))
    boundary = np.zeros(labels.shape, dtype=bool)
    for axis in range(labels.ndim):
        for shift in (-1, 1):
            neighbour = tuple(
                slice(1 + shift, padded.shape[a] - 1 + shift) if a == axis else inner[a] for a in range(labels.ndim)
            )
            boundary |= padded[neighbour] != labels
    return (boundary & (labels > 0)).astype(np.uint8)


def label_centroids(labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Centres of mass of labels ``1..n_labels`` in voxel coordinates, ``(N, D)`` (NaN for an absent label).

    Only the labelled voxels are visited, so sparse volumes are cheap.
    """
    flat = np.flatnonzero(labels)
    ids = labels.ravel()[flat].astype(np.intp)
    counts = np.bincount(ids, minlength=n_labels + 1)[1 : n_labels + 1]
    coordinates = np.unravel_index(flat, labels.shape)
    sums = [np.bincount(ids, weights=c, minlength=n_labels + 1)[1 : n_labels + 1] for c in coordinates]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack(sums, axis=-1).reshape(n_labels, labels.ndim) / counts[:, None]


def shape_marker(labels: np.ndarray, semi_axes: np.ndarray) -> np.ndarray:
    """I_shapemarker of seed 001: ``round(255 * shortest / longest semi-axis)`` of label ``i`` (row ``i - 1`` of the
    ``(N, D)`` ``semi_axes``) inside it, 0 outside; uint8 of the labels' shape."""
    ellipticity = semi_axes.min(axis=1) / semi_axes.max(axis=1) if len(semi_axes) else np.zeros(0)
    return np.concatenate([[0], np.round(255.0 * ellipticity)]).astype(np.uint8)[labels]


def band_limited_noise(rng: np.random.Generator, shape: Sequence[int], sigma: float | Sequence[float]) -> np.ndarray:
    """Smooth random texture: white Gaussian noise low-pass filtered with a Gaussian of ``sigma`` voxels (scalar or
    per axis), rescaled to zero mean and unit standard deviation (float32, ``shape``)."""
    field = ndimage.gaussian_filter(rng.standard_normal(tuple(shape), dtype=np.float32), sigma, mode="wrap")
    field -= field.mean()
    return field / max(float(field.std()), 1e-12)


def simulate_acquisition(
    rng: np.random.Generator,
    phantom: np.ndarray,
    psf_sigma: float | Sequence[float] = 2.0,
    background: float = 0.05,
    poisson_photons: float | None = 200.0,
    gaussian_noise_std: float = 0.02,
) -> np.ndarray:
    """Image a fluorescence phantom: Gaussian PSF blur, background offset, shot noise and read noise.

    ``blurred = gaussian_filter(phantom, psf_sigma) + background``; with ``poisson_photons`` = P the photon count
    at unit intensity, ``image = Poisson(P * blurred) / P``; then ``N(0, gaussian_noise_std^2)`` is added. The result
    is not clipped (read noise may make it slightly negative).

    Args:
        phantom: noise-free object intensities ``(Z, Y, X)`` or ``(H, W)``.
        psf_sigma: PSF standard deviation in voxels (scalar or per axis; 0 disables the blur).

    Returns:
        float32 image of the phantom's shape.
    """
    image = np.asarray(phantom, dtype=np.float32)
    if np.any(np.asarray(psf_sigma) > 0):
        image = ndimage.gaussian_filter(image, psf_sigma, mode="nearest")
    image = image + np.float32(background)
    if poisson_photons:
        image = rng.poisson(np.maximum(image, 0) * poisson_photons).astype(np.float32) / np.float32(poisson_photons)
    if gaussian_noise_std > 0:
        image += rng.normal(0.0, gaussian_noise_std, size=image.shape).astype(np.float32)
    return image.astype(np.float32, copy=False)
