"""Nucleus diameter estimates (cellbundles.postprocess.diameter) on phantoms of known size."""

from __future__ import annotations

import numpy as np
import pytest

from cellbundles.postprocess import DIAMETER_METHODS, estimate_nucleus_diameter, median_diameter_um
from cellbundles.synth import nuclei2d, nuclei3d

PSF_SIGMA_UM = (1.5, 0.75, 0.75)


@pytest.mark.parametrize("method", DIAMETER_METHODS)
@pytest.mark.parametrize("spacing, shape", [((0.8, 0.5, 0.5), (48, 112, 112)), ((2.0, 0.5, 0.5), (24, 112, 112))])
@pytest.mark.parametrize("radius_range_um, n_nuclei", [((2.5, 3.5), 16), ((5.0, 6.0), 4)])
def test_estimate_within_25_percent_at_two_anisotropies(method, spacing, shape, radius_range_um, n_nuclei):
    # a microscope's blur: 1.5 um along z, 0.75 um in the plane, whatever the voxel size
    psf_sigma = tuple(np.array(PSF_SIGMA_UM) / np.array(spacing))
    sample = nuclei3d(shape, n_nuclei, radius_range_um, spacing, touching_fraction=0.3, psf_sigma=psf_sigma, seed=7)
    true = median_diameter_um(sample["labels"], spacing)
    estimate = estimate_nucleus_diameter(sample["image"], spacing, method=method)
    assert abs(estimate / true - 1.0) <= 0.25, (estimate, true)


def test_noise_specks_do_not_outweigh_the_nuclei():
    # touching 12 um nuclei at a z step of 1.75 um under strong voxel noise (like BBBC050 Emb08 t501): with a blob
    # threshold of 10 % of the strongest response thousands of one-voxel specks passed it and, summed, outweighed
    # the nuclei (the estimate fell to 2.5 um; 10.9 um at the 30 % threshold)
    spacing = (1.75, 0.8, 0.8)
    psf_sigma = tuple(np.array(PSF_SIGMA_UM) / np.array(spacing))
    sample = nuclei3d((40, 112, 112), 30, (5.5, 6.5), spacing, touching_fraction=0.5, psf_sigma=psf_sigma, seed=3)
    image = sample["image"].astype(np.float32) / sample["image"].max()
    noisy = image + 0.3 * np.random.default_rng(0).standard_normal(image.shape).astype(np.float32)
    true = median_diameter_um(sample["labels"], spacing)
    estimate = estimate_nucleus_diameter(noisy, spacing)
    assert abs(estimate / true - 1.0) <= 0.25, (estimate, true)


def test_two_dimensional_images():
    sample = nuclei2d((160, 160), n_nuclei=12, radius_range=(5, 7), seed=2)
    true = median_diameter_um(sample["labels"], (0.5, 0.5))
    estimate = estimate_nucleus_diameter(sample["image"], (0.5, 0.5))
    assert abs(estimate / true - 1.0) <= 0.25, (estimate, true)


def test_scale_follows_the_spacing_and_bounds_hold():
    sample = nuclei3d((32, 96, 96), 8, (3.0, 4.0), (0.8, 0.5, 0.5), seed=1)
    estimate = estimate_nucleus_diameter(sample["image"], (0.8, 0.5, 0.5))
    doubled = estimate_nucleus_diameter(sample["image"], (1.6, 1.0, 1.0))
    assert doubled == pytest.approx(2.0 * estimate, rel=0.15)
    assert 1.5 <= estimate_nucleus_diameter(sample["image"], (0.8, 0.5, 0.5), max_um=5.0) <= 5.0


def test_constant_image_and_invalid_arguments():
    assert estimate_nucleus_diameter(np.zeros((16, 32, 32)), (1.0, 0.5, 0.5)) == pytest.approx(1.5)
    assert estimate_nucleus_diameter(np.zeros((16, 32, 32)), 1.0, method="mask") == pytest.approx(1.5)
    with pytest.raises(ValueError, match="method"):
        estimate_nucleus_diameter(np.zeros((8, 8)), 1.0, method="cellpose")
    with pytest.raises(ValueError, match="2D or 3D"):
        estimate_nucleus_diameter(np.zeros((2, 4, 8, 8)), 1.0)
    with pytest.raises(ValueError, match="min_um"):
        estimate_nucleus_diameter(np.zeros((8, 8)), 1.0, min_um=5.0, max_um=2.0)
    with pytest.raises(ValueError, match="NaN"):
        estimate_nucleus_diameter(np.full((8, 8), np.nan), 1.0)
