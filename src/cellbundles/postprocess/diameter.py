"""Typical nucleus diameter of a fluorescence image, estimated from the image alone (torch-free).

Size-aware inference (like Cellpose's ``diameter``, docs/design.md, "Generalisation") and the classical baseline
take their scale from one number, the nucleus diameter in micrometres. Two estimators:

- ``"scale_space"`` (default): blobs of the scale-normalised Laplacian of Gaussian (Lindeberg, "Feature
  detection with automatic scale selection", IJCV 30, 1998). A ball of diameter ``d`` gives its
  strongest response ``-sigma^2 LoG`` at its centre for ``sigma = d / (2 sqrt(3))`` (a disc in 2D:
  ``d / (2 sqrt(2))``). Scales form a geometric series (4 per octave) of physical sigmas, each filtered
  on an octave grid of about ``sigma / 1.5`` per voxel (so the kernels are isotropic in micrometres
  whatever the voxel anisotropy, and large scales are cheap). Blobs are the points that are local
  maxima in space and over the neighbouring scales (scale refined by a parabola), at least 30 % of the
  strongest; a blob whose centre lies inside a stronger one is dropped. The estimate is the median of
  the blob diameters weighted by response times volume, so that specks of noise and texture weigh little.
- ``"mask"``: Otsu threshold of the lightly smoothed image (holes filled), Euclidean distance
  transform in micrometres; its local maxima, strongest first, each suppressing the maxima inside its
  inscribed ball, give one inscribed radius per object; the estimate is twice their volume-weighted median.

Measured on phantoms (2-18 um, z step 0.8 and 2 um) and real volumes (BBBC050, QCANet, GoNuclear),
both land within about 30 % of the median equivalent-sphere diameter of the annotations; the
scale-space estimate is closer on phantoms (within 13 %) and on the real embryos, whose annotated
nuclei are elongated in z by the optical blur, both read the lateral size (15-30 % below the annotation).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.filters import threshold_otsu

from cellbundles.utils import spacing_array, to_numpy

__all__ = ["DIAMETER_METHODS", "estimate_nucleus_diameter"]

DIAMETER_METHODS = ("scale_space", "mask")

_SCALES_PER_OCTAVE = 4
_VOXELS_PER_SIGMA = 1.5
_MIN_SIGMA_VOXELS = 1.0
_BLOB_THRESHOLD = 0.3


def _resample(image: np.ndarray, spacing: np.ndarray, voxel_um: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` Gaussian-smoothed against aliasing and zoomed to about ``voxel_um`` per voxel on the axes
    whose spacing is finer; returns the new image and its spacing."""
    factors = np.minimum(spacing / voxel_um, 1.0)
    if np.all(factors > 0.99):
        return image, spacing
    sigma = np.where(factors < 1.0, 0.5 / factors, 0.0) * 0.8
    smoothed = ndimage.gaussian_filter(image, sigma)
    shape = np.maximum(np.rint(np.asarray(image.shape) * factors), 1).astype(int)
    zoomed = ndimage.zoom(smoothed, shape / np.asarray(image.shape), order=1, grid_mode=True, mode="nearest")
    return zoomed, spacing * np.asarray(image.shape) / np.asarray(zoomed.shape)


def _normalised_log(image: np.ndarray, spacing: np.ndarray, sigma_um: float) -> np.ndarray:
    """``-sum_i sigma_i^2 d^2/dx_i^2`` of the Gaussian-smoothed image (derivatives in micrometres, second
    differences of the smoothed image), ``sigma_i = max(sigma_um, MIN_SIGMA_VOXELS * spacing_i)``: below the
    voxel size of an axis the scale stops shrinking on that axis, so single-voxel noise is no blob."""
    sigma = np.maximum(sigma_um, _MIN_SIGMA_VOXELS * spacing)
    smoothed = ndimage.gaussian_filter(image, sigma / spacing, mode="nearest")
    response = np.zeros(image.shape, dtype=np.float32)
    for axis in range(image.ndim):
        if image.shape[axis] > 2:
            second = ndimage.correlate1d(smoothed, [1.0, -2.0, 1.0], axis=axis, mode="nearest")
            response -= second * np.float32((sigma[axis] / spacing[axis]) ** 2)
    return response


def _local_maxima(response: np.ndarray, spacing: np.ndarray, sigma_um: float) -> tuple[np.ndarray, np.ndarray]:
    """Positive local maxima of ``response`` (neighbourhood of about one sigma) at least half a sigma
    from the borders: ``(N, D)`` voxel coordinates and ``(N,)`` values."""
    size = np.maximum(2 * np.floor(sigma_um / spacing) + 1, 3).astype(int)
    peaks = (response == ndimage.maximum_filter(response, size=tuple(size), mode="nearest")) & (response > 0)
    margin = np.minimum(np.ceil(0.5 * sigma_um / spacing).astype(int), (np.asarray(response.shape) - 1) // 2)
    border = np.ones(response.shape, dtype=bool)
    border[tuple(slice(m, s - m) for m, s in zip(margin, response.shape))] = False
    coords = np.argwhere(peaks & ~border)
    return coords, response[tuple(coords.T)]


def _sample(response: np.ndarray, spacing: np.ndarray, points_um: np.ndarray) -> np.ndarray:
    """``response`` (voxel centres at ``(i + 0.5) * spacing``) linearly interpolated at ``points_um``."""
    coords = points_um / spacing - 0.5
    return ndimage.map_coordinates(response, coords.T, order=1, mode="nearest")


def _scale_space_blobs(image: np.ndarray, spacing: np.ndarray, min_um: float, max_um: float) -> np.ndarray:
    """Scale-space blobs of ``image`` with diameters in ``[min_um, max_um]``, strongest first, one per
    object: ``(N, 2)`` array of (normalised response, diameter in um)."""
    factor = 2.0 * np.sqrt(image.ndim)
    # below about one voxel the scale no longer changes the filter: start where it does
    min_um = min(max(min_um, factor * _MIN_SIGMA_VOXELS * spacing.min()), max_um / 2.0)
    n_steps = int(np.ceil(np.log2(max_um / min_um) * _SCALES_PER_OCTAVE))
    step = (max_um / min_um) ** (1.0 / n_steps)
    sigmas = min_um / factor * step ** np.arange(-1, n_steps + 2)
    octave = [0, image, spacing]  # the current grid: voxel size min(spacing) * 2^level, not finer than the input

    def response(sigma_um: float) -> tuple[np.ndarray, np.ndarray]:
        level = max(int(np.floor(np.log2(sigma_um / _VOXELS_PER_SIGMA / spacing.min()))), 0)
        if level > octave[0]:  # scales only increase: each octave grid is made from the previous one
            octave[:] = [level, *_resample(octave[1], octave[2], spacing.min() * 2.0**level)]
        return _normalised_log(octave[1], octave[2], sigma_um), octave[2]

    blobs = []  # (response, log sigma, position in um)
    window = [response(sigmas[0]), response(sigmas[1])]
    for k in range(1, len(sigmas) - 1):
        window.append(response(sigmas[k + 1]))
        (lower, lower_spacing), (current, grid_spacing), (upper, upper_spacing) = window[-3:]
        window.pop(0)
        coords, values = _local_maxima(current, grid_spacing, sigmas[k])
        if values.size == 0:
            continue
        points = (coords + 0.5) * grid_spacing
        below, above = _sample(lower, lower_spacing, points), _sample(upper, upper_spacing, points)
        keep = (values >= below) & (values >= above)
        if not keep.any():
            continue
        below, centre, above, points = below[keep], values[keep], above[keep], points[keep]
        curvature = below - 2 * centre + above
        offset = np.where(curvature < 0, 0.5 * (below - above) / np.where(curvature < 0, curvature, -1), 0.0)
        log_sigma = np.log(sigmas[k]) + np.clip(offset, -0.5, 0.5) * np.log(step)
        blobs.append(np.column_stack([centre, log_sigma, points]))
    if not blobs:
        return np.zeros((0, 2))
    blobs = np.concatenate(blobs)
    blobs = blobs[blobs[:, 0] >= _BLOB_THRESHOLD * blobs[:, 0].max()]
    blobs = blobs[np.argsort(-blobs[:, 0])]
    radii = np.exp(blobs[:, 1]) * factor / 2.0
    # a blob whose centre lies inside a stronger one (or contains a stronger one's centre) is the same
    # object seen at another scale, or a cluster of objects
    keep = _suppress_inside(blobs[:, 2:], radii)
    return np.column_stack([blobs[keep, 0], 2.0 * radii[keep]])


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at half of the total weight, values sorted."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def _suppress_inside(points: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Greedy suppression in the given (priority) order: a point closer to a kept point than the larger
    of their radii is dropped. Returns the boolean mask of the kept points."""
    keep = np.ones(len(points), dtype=bool)
    if len(points) < 2:
        return keep
    pairs = cKDTree(points).query_pairs(radii.max(), output_type="ndarray")
    if len(pairs):
        pairs = np.sort(pairs, axis=1)
        distance = np.linalg.norm(points[pairs[:, 0]] - points[pairs[:, 1]], axis=1)
        pairs = pairs[distance < np.maximum(radii[pairs[:, 0]], radii[pairs[:, 1]])]
        for stronger, weaker in pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]:
            if keep[stronger]:
                keep[weaker] = False
    return keep


def _mask_diameter(image: np.ndarray, spacing: np.ndarray, min_um: float, max_um: float) -> float:
    """Twice the median inscribed radius of the Otsu mask's distance-transform maxima (module docstring)."""
    image, spacing = _resample(image, spacing, min_um / 4.0)
    smoothed = ndimage.gaussian_filter(image, np.maximum(min_um / 4.0 / spacing, 1.0))
    if smoothed.max() <= smoothed.min():
        return float(min_um)
    mask = ndimage.binary_fill_holes(smoothed > threshold_otsu(smoothed))
    distance = ndimage.distance_transform_edt(mask, sampling=spacing)
    maxima = (distance == ndimage.maximum_filter(distance, size=3)) & (distance >= min_um / 2.0)
    coords = np.argwhere(maxima)
    if len(coords) == 0:
        return float(min_um)
    radii = distance[tuple(coords.T)]
    order = np.argsort(-radii)
    # one maximum per inscribed ball: those inside a larger ball are ridge points of the same object
    keep = _suppress_inside(coords[order] * spacing, radii[order])
    radii = radii[order][keep]
    return float(np.clip(2.0 * _weighted_median(radii, radii**image.ndim), min_um, max_um))


def estimate_nucleus_diameter(
    image: np.ndarray,
    spacing: Sequence[float] | float | None = None,
    method: str = "scale_space",
    min_um: float = 1.5,
    max_um: float = 40.0,
) -> float:
    """Typical (median) nucleus diameter of a fluorescence image of bright nuclei, in micrometres.

    Args:
        image: ``(Z, Y, X)`` or ``(Y, X)`` intensities (no channel axis), any dtype.
        spacing: voxel size per axis in micrometres, array order; None: 1 um.
        method: ``"scale_space"`` (default: the more accurate on the phantoms and real volumes measured)
            or ``"mask"``, see the module docstring.
        min_um: smallest diameter considered.
        max_um: largest diameter considered.

    Returns:
        the diameter in micrometres, within ``[min_um, max_um]``.
    """
    image = to_numpy(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be a 2D or 3D array without channel axis, got shape {image.shape}.")
    if method not in DIAMETER_METHODS:
        raise ValueError(f"method must be one of {DIAMETER_METHODS}, got {method!r}.")
    if not 0 < min_um < max_um:
        raise ValueError(f"need 0 < min_um < max_um, got {min_um} and {max_um}.")
    spacing = spacing_array(spacing, image.ndim)
    image = image.astype(np.float32)
    if not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or Inf.")
    low, high = np.percentile(image, (1.0, 99.8))
    image = np.clip((image - low) / max(high - low, 1e-12), 0.0, 1.0)
    if method == "mask":
        return _mask_diameter(image, spacing, min_um, max_um)
    blobs = _scale_space_blobs(image, spacing, min_um, max_um)
    if len(blobs) == 0:
        return float(min_um)
    # weights: response times volume, so that the many faint specks of noise and texture weigh little
    diameter = _weighted_median(blobs[:, 1], blobs[:, 0] * blobs[:, 1] ** image.ndim)
    return float(np.clip(diameter, min_um, max_um))
