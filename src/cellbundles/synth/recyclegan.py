"""Phantom triples of seed 001 (3D nuclei segmentation and classification with a Recycle-GAN): I_binary of random
ellipsoids, I_contour and I_shapemarker, plus the blurred I_binary that the GAN translates into microscopy.

Reference:
    Seed 001, section 2.1: ellipsoids with semi-axes drawn from [r_min, r_max], random orientation and random
    centres (Eq. 1); I_contour holds each nucleus's boundary (Eq. 2), I_shapemarker 255 x an ellipticity measure
    inside each nucleus (Eq. 3); I_binary is blurred with a 3D Gaussian of sigma 2 as the PSF.

The geometry comes from :func:`cellbundles.synth.randomised.randomised_nuclei3d` with its shape parameters fixed
(``semi_axes_um``, ``orientation``, ``packing``, ``touching_fraction``; no outline irregularity, nucleoli or mitoses);
its rendered image is not used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from cellbundles.synth.randomised import randomised_nuclei3d
from cellbundles.synth.utils import SeedLike, check_spacing, instance_contour

__all__ = ["gan_phantom3d", "label_ellipticity", "paired_targets"]


def gan_phantom3d(
    seed: SeedLike = 0,
    shape: Sequence[int] = (64, 128, 128),
    spacing: Sequence[float] = (1.0, 0.5, 0.5),
    semi_axes_um: Sequence[float] = (2.0, 4.0),
    orientation: str = "random",
    packing: float | Sequence[float] = 0.25,
    touching_fraction: float = 0.3,
    psf_sigma: float | Sequence[float] = 2.0,
    cut_border: bool = True,
) -> dict:
    """Binary ellipsoid-nucleus phantom with its contour and shape marker (seed 001, Eqs. 1-3).

    Defaults: a 64 x 128 x 128 volume at 1 x 0.5 x 0.5 um (32 x 64 x 64 um) with semi-axes of 2-4 um (nuclei 4-8 um
    across), a quarter of the volume inside nuclei, 30 % pressed against a neighbour, PSF sigma 2 voxels as in the
    paper.

    Args:
        seed: anything ``numpy.random.default_rng`` accepts; the same seed gives the same phantom.
        shape: volume shape ``(Z, Y, X)``.
        spacing: voxel size ``(z, y, x)`` in um.
        semi_axes_um: ``(r_min, r_max)``: every semi-axis of every nucleus is drawn from U(r_min, r_max).
        orientation: ``"random"`` (uniform over SO(3), as in the paper) or ``"aligned"`` (axes along z, y, x).
        packing: target fraction of the volume inside nuclei (the density), or a ``(min, max)`` pair: the volume's
            packing is drawn from U(min, max) with its seed (sparse and crowded volumes in one dataset).
        touching_fraction: chance that a nucleus is pressed against a placed one.
        psf_sigma: Gaussian PSF sigma in voxels, scalar or per axis, for ``image``.
        cut_border: whether nuclei may cross the volume border.

    Returns:
        dict with
            - ``image``: float32 ``(Z, Y, X)`` in [0, 1], I_binary blurred by the PSF (the GAN's input domain);
            - ``labels``: uint16 ``(Z, Y, X)``, nuclei ``1..N``;
            - ``binary``, ``contour``, ``shapemarker``: uint8 ``(Z, Y, X)``: I_binary, I_contour (boundary voxels of
              each nucleus), I_shapemarker (``round(255 * shortest / longest semi-axis)`` inside each nucleus);
            - ``centroids``: float ``(N, 3)`` in voxels; ``semi_axes_um``: float ``(N, 3)``;
            - ``spacing``: the voxel size; ``params``: the generator's parameters (JSON-serialisable).
    """
    if not np.isscalar(packing):
        packing = float(np.random.default_rng(seed).uniform(*packing))
    sample = randomised_nuclei3d(
        seed,
        shape=shape,
        spacing=spacing,
        semi_axes_um=semi_axes_um,
        radius_um=semi_axes_um,
        orientation=orientation,
        packing=packing,
        touching_fraction=touching_fraction,
        cut_border=cut_border,
        elongation=1.0,
        irregularity=0.0,
        mitotic_fraction=0.0,
        nucleoli=0,
    )
    image = ndimage.gaussian_filter(sample["binary"].astype(np.float32), psf_sigma, mode="constant")
    sample["image"] = np.clip(image, 0.0, 1.0)
    sample["params"]["psf_sigma_voxels"] = np.broadcast_to(np.asarray(psf_sigma, dtype=float), (3,)).tolist()
    return {key: sample[key] for key in (
        "image", "labels", "binary", "contour", "shapemarker", "centroids", "semi_axes_um", "spacing", "params"
    )}  # fmt: skip


def label_ellipticity(labels: np.ndarray, spacing: Sequence[float] | float = 1.0) -> np.ndarray:
    """Ellipticity of every label from its voxels: ``sqrt(smallest / largest eigenvalue)`` of the covariance of its
    voxels in physical units (each voxel a uniform box, adding ``spacing^2 / 12`` per axis), which for a solid
    ellipsoid is its shortest over longest semi-axis.

    Args:
        labels: instance labels ``(Z, Y, X)`` (or ``(H, W)``), 0 background.
        spacing: voxel size per axis.

    Returns:
        float ``(L + 1,)`` indexed by label (``L`` the largest), 0 for the background, absent labels and labels of a
        single voxel.
    """
    labels = np.asarray(labels)
    if labels.size and labels.min() < 0:
        raise ValueError("label_ellipticity: labels must be non-negative.")
    spacing = np.asarray(check_spacing(spacing, labels.ndim))
    n_labels = int(labels.max()) if labels.size else 0
    ellipticity = np.zeros(n_labels + 1)
    for label, box in enumerate(ndimage.find_objects(labels.astype(np.int64)), start=1):
        if box is None:
            continue
        points = np.argwhere(labels[box] == label) * spacing
        if len(points) < 2:
            continue
        eigenvalues = np.clip(np.linalg.eigvalsh(np.cov(points, rowvar=False) + np.diag(spacing**2 / 12.0)), 0.0, None)
        if eigenvalues[-1] > 0:
            ellipticity[label] = np.sqrt(eigenvalues[0] / eigenvalues[-1])
    return ellipticity


def paired_targets(labels: np.ndarray, spacing: Sequence[float] | float = 1.0) -> dict[str, np.ndarray]:
    """I_binary, I_contour and I_shapemarker of any instance label volume (seed 001, Eqs. 1-3), the shape marker
    measured by :func:`label_ellipticity`.

    Returns:
        dict of uint8 arrays of the labels' shape: ``binary``, ``contour``, ``shapemarker``.
    """
    labels = np.asarray(labels)
    marker = np.round(255.0 * label_ellipticity(labels, spacing)).astype(np.uint8)
    return {
        "binary": (labels > 0).astype(np.uint8),
        "contour": instance_contour(labels),
        "shapemarker": marker[labels],
    }
