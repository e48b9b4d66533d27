"""Nuclei phantoms: 3D ellipsoid nuclei in the style of BBBC024 and the synthetic volumes of seed 001, and
2D nuclei in the style of the DSB2018 (BBBC038) fluorescence images.

References:
    - Seed 001, 3D nuclei segmentation and classification with a Recycle-GAN and a Hausdorff distance loss:
      I_binary of random ellipsoids with semi-axes in [r_min, r_max] and random orientation, I_contour,
      I_shapemarker, and a 3D Gaussian blur (sigma 2) as the PSF.
    - BBBC024, synthetic HL60 nuclei used by seed 000 as its Dataset 2 (20 textured, blurred, noisy nuclei per
      volume), generated as in Svoboda, Kozubek and Stejskal, "Generation of digital
      phantoms of cell nuclei and simulation of image formation in 3D image cytometry", Cytometry A 75, 2009.
    - Caicedo et al., "Nucleus segmentation across imaging experiments: the 2018 Data Science Bowl",
      Nat. Methods 16, 2019 (BBBC038).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cellbundles.synth.utils import (
    LabelCanvas,
    SeedLike,
    band_limited_noise,
    check_range,
    check_shape,
    check_spacing,
    instance_contour,
    label_centroids,
    place_randomly,
    place_touching,
    sample_star_ellipsoid,
    simulate_acquisition,
)

__all__ = ["nuclei3d", "nuclei2d"]

def _render_nuclei(
    name: str,
    spatial_dims: int,
    shape: Sequence[int],
    n_nuclei: int,
    radius_range: Sequence[float],
    spacing: Sequence[float] | float,
    touching_fraction: float,
    irregularity: float,
    psf_sigma: float | Sequence[float],
    background: float,
    intensity_range: Sequence[float],
    texture: float,
    texture_sigma: float,
    poisson_photons: float | None,
    gaussian_noise_std: float,
    seed: SeedLike,
    max_attempts: int,
) -> dict:
    """Place and image ``n_nuclei`` star-shaped ellipsoids; the generator behind :func:`nuclei3d` and
    :func:`nuclei2d` (``name`` prefixes error messages)."""
    shape = check_shape(shape, spatial_dims)
    spacing = check_spacing(spacing, spatial_dims)
    radius_range = check_range(f"{name}: radius range", radius_range)
    intensity_range = check_range(f"{name}: intensity_range", intensity_range)
    if radius_range[0] <= 0:
        raise ValueError(f"{name}: radius range must be positive, got {radius_range}.")
    if not 0.0 <= touching_fraction <= 1.0:
        raise ValueError(f"{name}: touching_fraction must lie in [0, 1], got {touching_fraction}.")
    if not 0.0 <= irregularity < 1.0:
        raise ValueError(f"{name}: irregularity must lie in [0, 1), got {irregularity}.")
    if n_nuclei < 0 or n_nuclei > np.iinfo(np.uint16).max:
        raise ValueError(f"{name}: n_nuclei must lie in [0, 65535], got {n_nuclei}.")
    rng = np.random.default_rng(seed)

    n_touching = min(int(round(touching_fraction * n_nuclei)), max(n_nuclei - 1, 0))
    touching = set(rng.choice(np.arange(1, n_nuclei), size=n_touching, replace=False).tolist()) if n_touching else set()
    canvas = LabelCanvas(shape, spacing)
    placed = []
    for index in range(n_nuclei):
        nucleus = sample_star_ellipsoid(rng, spatial_dims, radius_range, irregularity)
        if index in touching:
            nucleus = place_touching(canvas, nucleus, placed, rng, max_attempts=max_attempts)
        else:
            nucleus = place_randomly(canvas, nucleus, rng, gap=1, max_attempts=max_attempts)
        if nucleus is None:
            how = "in contact with another" if index in touching else "without touching another"
            raise ValueError(
                f"{name}: could not place nucleus {index + 1} of {n_nuclei} {how} after {max_attempts} attempts "
                f"in an image of shape {shape} (spacing {spacing}); use fewer nuclei, a smaller radius range or a "
                "larger shape."
            )
        placed.append(nucleus)
    labels = canvas.labels

    intensities = np.concatenate([[0.0], rng.uniform(*intensity_range, size=n_nuclei)]).astype(np.float32)
    phantom = intensities[labels]
    if texture > 0:
        phantom *= np.maximum(1.0 + texture * band_limited_noise(rng, shape, texture_sigma), 0.0)
    image = simulate_acquisition(rng, phantom, psf_sigma, background, poisson_photons, gaussian_noise_std)
    return {
        "image": image,
        "labels": labels,
        "centroids": label_centroids(labels, n_nuclei),
        "semi_axes": np.array([n.semi_axes for n in placed]).reshape(n_nuclei, spatial_dims),
        "binary": (labels > 0).astype(np.uint8),
        "contour": instance_contour(labels),
        "spacing": spacing,
    }


def nuclei3d(
    shape: Sequence[int] = (64, 128, 128),
    n_nuclei: int = 20,
    radius_range_um: Sequence[float] = (2.5, 4.0),
    spacing: Sequence[float] = (0.8, 0.5, 0.5),
    touching_fraction: float = 0.0,
    irregularity: float = 0.0,
    psf_sigma: float | Sequence[float] = 2.0,
    background: float = 0.05,
    intensity_range: Sequence[float] = (0.5, 1.0),
    texture: float = 0.2,
    texture_sigma: float = 1.5,
    poisson_photons: float | None = 200.0,
    gaussian_noise_std: float = 0.02,
    seed: SeedLike = 0,
    max_attempts: int = 1000,
) -> dict:
    """Synthetic 3D fluorescence volume of ellipsoidal nuclei with its ground truth (BBBC024-like, seed 001).

    Each semi-axis is drawn uniformly from ``radius_range_um`` and converted to voxels per axis with ``spacing``;
    the orientation is uniform over SO(3) (normalised Gaussian quaternion). Nuclei are placed by rejection
    sampling so that none overlaps or is adjacent (26-neighbourhood) to another, except
    ``round(touching_fraction * n_nuclei)`` of them (chosen at random, never the first), which are placed in
    face contact with an already placed nucleus, without overlap; this mimics BBBC024's clustering. Every nucleus
    lies entirely inside the volume.

    The image is ``Poisson(P * (blur(intensity_i * (1 + texture * T)) + background)) / P + N(0, std^2)`` with a
    per-nucleus intensity from ``intensity_range``, ``T`` a unit-variance smooth noise of correlation length
    ``texture_sigma`` voxels, ``blur`` a Gaussian PSF of ``psf_sigma`` voxels (2 as in seed 001) and
    ``P = poisson_photons``. With ``texture=0``, ``background=0``, ``intensity_range=(1, 1)`` and no noise the image is
    seed 001's blurred I_binary.

    Defaults: a 64 x 128 x 128 volume at 0.8 x 0.5 x 0.5 um holding 20 nuclei (as many as a BBBC024 volume) with
    semi-axes of 2.5-4 um, i.e. HL60-sized nuclei 5-8 um across, 10-16 voxels in y and x and 6-10 in z; intensities
    0.5-1 over a background of 0.05, 20 % texture, 200 photons at unit intensity and read noise 0.02.

    Args:
        shape: volume shape ``(Z, Y, X)``.
        n_nuclei: number of nuclei ``N``.
        radius_range_um: ``(r_min, r_max)`` of the semi-axes, micrometres.
        spacing: voxel size ``(z, y, x)`` in micrometres.
        touching_fraction: fraction of nuclei placed in contact with another, in [0, 1].
        irregularity: relative amplitude of a smooth outline perturbation (0 = exact ellipsoids).
        psf_sigma: Gaussian PSF standard deviation in voxels, scalar or per axis.
        background: constant offset added after the blur.
        intensity_range: range of the per-nucleus mean intensity.
        texture: relative amplitude of the intra-nuclear texture.
        texture_sigma: correlation length of the texture in voxels.
        poisson_photons: expected photons at unit intensity (``None`` or 0 disables shot noise).
        gaussian_noise_std: standard deviation of the additive read noise.
        seed: anything ``numpy.random.default_rng`` accepts; the same seed gives the same sample.
        max_attempts: placement attempts per nucleus before a ``ValueError``.

    Returns:
        dict with
            - ``image``: float32 ``(Z, Y, X)``;
            - ``labels``: uint16 ``(Z, Y, X)``, nuclei ``1..N``, 0 background;
            - ``centroids``: float ``(N, 3)``, centre of mass of each label in voxels ``(z, y, x)``;
            - ``centroids_um``: ``centroids * spacing``;
            - ``semi_axes_um``: float ``(N, 3)``, semi-axes before rotation;
            - ``binary``: uint8 ``(Z, Y, X)``, 1 inside nuclei (I_binary);
            - ``contour``: uint8 ``(Z, Y, X)``, 1 on the boundary voxels of each nucleus, those with a face neighbour
              outside it (I_contour);
            - ``shapemarker``: uint8 ``(Z, Y, X)``, ``round(255 * shortest / longest semi-axis)`` inside each nucleus,
              0 outside: 255 for a sphere, lower for more elongated or flattened nuclei (I_shapemarker);
            - ``spacing``: the voxel size as a tuple.

    Raises:
        ValueError: on invalid arguments or when the nuclei cannot be placed.
    """
    sample = _render_nuclei(
        "nuclei3d", 3, shape, n_nuclei, radius_range_um, spacing, touching_fraction, irregularity, psf_sigma,
        background, intensity_range, texture, texture_sigma, poisson_photons, gaussian_noise_std, seed, max_attempts,
    )  # fmt: skip
    semi_axes = sample.pop("semi_axes")
    ellipticity = semi_axes.min(axis=1) / semi_axes.max(axis=1) if n_nuclei else np.zeros(0)
    marker = np.concatenate([[0], np.round(255.0 * ellipticity)]).astype(np.uint8)
    sample["centroids_um"] = sample["centroids"] * np.asarray(sample["spacing"])
    sample["semi_axes_um"] = semi_axes
    sample["shapemarker"] = marker[sample["labels"]]
    return sample


def nuclei2d(
    shape: Sequence[int] = (256, 256),
    n_nuclei: int = 40,
    radius_range: Sequence[float] = (5.0, 12.0),
    touching_fraction: float = 0.1,
    irregularity: float = 0.08,
    psf_sigma: float = 1.0,
    background: float = 0.02,
    intensity_range: Sequence[float] = (0.2, 1.0),
    texture: float = 0.25,
    texture_sigma: float = 1.5,
    poisson_photons: float | None = 300.0,
    gaussian_noise_std: float = 0.01,
    seed: SeedLike = 0,
    max_attempts: int = 1000,
) -> dict:
    """Synthetic 2D fluorescence image of nuclei in the style of DSB2018 (BBBC038) fluorescence images.

    Dark background, bright elliptical nuclei of varying size and brightness whose outlines are slightly irregular
    (smooth random perturbation of relative amplitude ``irregularity``), random orientation, non-overlapping
    placement with ``round(touching_fraction * n_nuclei)`` nuclei in contact with another. Imaging as in
    :func:`nuclei3d` (texture, Gaussian PSF, background, Poisson and Gaussian noise), in pixel units.

    Defaults: 40 nuclei with semi-axes of 5-12 px in a 256 x 256 image, 10 % touching, brightness 0.2-1 over a
    background of 0.02, PSF sigma 1 px.

    Args:
        shape: image shape ``(H, W)``.
        n_nuclei: number of nuclei ``N``.
        radius_range: ``(r_min, r_max)`` of the semi-axes in pixels.
        touching_fraction, irregularity, psf_sigma, background, intensity_range, texture, texture_sigma,
        poisson_photons, gaussian_noise_std, seed, max_attempts: as in :func:`nuclei3d`.

    Returns:
        dict with ``image`` float32 ``(H, W)``, ``labels`` uint16 ``(H, W)`` (``1..N``), ``centroids`` float
        ``(N, 2)`` (y, x centre of mass of each label), ``binary`` and ``contour`` uint8 ``(H, W)``.

    Raises:
        ValueError: on invalid arguments or when the nuclei cannot be placed.
    """
    sample = _render_nuclei(
        "nuclei2d", 2, shape, n_nuclei, radius_range, 1.0, touching_fraction, irregularity, psf_sigma, background,
        intensity_range, texture, texture_sigma, poisson_photons, gaussian_noise_std, seed, max_attempts,
    )  # fmt: skip
    return {key: sample[key] for key in ("image", "labels", "centroids", "binary", "contour")}
