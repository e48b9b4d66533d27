from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from cellbundles.io import write_centroids_csv
from cellbundles.transforms import CentroidsToDensity, CentroidsToDensityd, render_gaussian_density


def meta_image(shape, spacing):
    affine = torch.diag(torch.tensor([*spacing, 1.0], dtype=torch.float64))
    return MetaTensor(torch.zeros((1, *shape)), affine=affine)


def axis_moments(density: np.ndarray):
    """Centre of mass and variance along each axis of a single-blob density."""
    grids = np.indices(density.shape)
    total = density.sum()
    mean = [float((g * density).sum() / total) for g in grids]
    var = [float((((g - m) ** 2) * density).sum() / total) for g, m in zip(grids, mean)]
    return np.array(mean), np.array(var)


def test_integral_equals_number_of_centroids_inside():
    rng = np.random.default_rng(0)
    centroids = rng.uniform([6, 10, 10], [18, 38, 38], size=(12, 3))
    density = CentroidsToDensity(spacing=(2.0, 0.5, 0.5))(centroids, (24, 48, 48))
    assert density.shape == (1, 24, 48, 48) and density.dtype == np.float32
    assert density.sum(dtype=np.float64) == pytest.approx(12.0, abs=1e-4)


def test_sigma_in_voxels_follows_spacing_per_axis():
    spacing = (1.0, 0.5, 0.25)
    density = CentroidsToDensity(sigma_um=1.0, spacing=spacing)((np.array([[15.0, 15.0, 20.0]])), (30, 30, 40))[0]
    mean, var = axis_moments(density.astype(np.float64))
    np.testing.assert_allclose(mean, [15, 15, 20], atol=1e-6)
    np.testing.assert_allclose(np.sqrt(var), [1.0, 2.0, 4.0], rtol=1e-3)


def test_sub_voxel_centroid_is_the_centre_of_mass():
    centroid = np.array([[10.3, 12.7, 9.5]])
    density = CentroidsToDensity(spacing=0.5)(centroid, (20, 24, 20))[0]
    mean, _ = axis_moments(density.astype(np.float64))
    np.testing.assert_allclose(mean, centroid[0], atol=1e-3)


def test_spacing_from_metatensor_pixdim_matches_explicit_spacing():
    centroids = np.array([[5.0, 8.0, 8.0], [10.0, 20.0, 14.0]])
    image = meta_image((16, 32, 24), (2.0, 0.5, 0.25))
    from_meta = CentroidsToDensity()(centroids, image)
    explicit = CentroidsToDensity(spacing=(2.0, 0.5, 0.25))(centroids, (16, 32, 24))
    assert isinstance(from_meta, MetaTensor)
    torch.testing.assert_close(from_meta.affine, image.affine)
    np.testing.assert_allclose(from_meta.numpy(), explicit, atol=1e-7)


def test_two_dimensional_density():
    density = CentroidsToDensity(spacing=(0.5, 0.5))(np.array([[10.0, 10.0], [20.0, 12.0]]), np.zeros((1, 32, 24)))
    assert density.shape == (1, 32, 24)
    assert density.sum() == pytest.approx(2.0, abs=1e-5)


def test_mass_outside_the_volume_is_dropped():
    density = CentroidsToDensity(spacing=0.5)(np.array([[0.0, 10.0, 10.0]]), (10, 20, 20))
    assert 0.4 < density.sum() < 0.6


def test_empty_centroids_give_zero_density():
    density = CentroidsToDensity(spacing=1.0)(np.zeros((0, 3)), (4, 5, 6))
    assert density.shape == (1, 4, 5, 6) and not density.any()


def test_rendering_is_chunk_independent(monkeypatch):
    import cellbundles.transforms.density as module

    rng = np.random.default_rng(1)
    centroids = rng.uniform(0, 20, size=(30, 3))
    whole = render_gaussian_density(centroids, (20, 20, 20), (1.5, 1.0, 2.0))
    monkeypatch.setattr(module, "_CHUNK_ELEMENTS", 1000)
    chunked = render_gaussian_density(centroids, (20, 20, 20), (1.5, 1.0, 2.0))
    np.testing.assert_allclose(chunked, whole, atol=1e-12)


@pytest.mark.parametrize(
    "centroids, match",
    [(np.zeros((3, 2)), "shape"), (np.array([[1.0, np.nan, 2.0]]), "NaN")],
)
def test_bad_centroids_raise(centroids, match):
    with pytest.raises(ValueError, match=match):
        CentroidsToDensity(spacing=1.0)(centroids, (8, 8, 8))


def test_plain_array_without_spacing_raises():
    with pytest.raises(ValueError, match="spacing"):
        CentroidsToDensity()(np.array([[2.0, 2.0, 2.0]]), np.zeros((1, 8, 8, 8)))


def test_dictionary_version_reads_centroid_csv_and_skips_missing(tmp_path):
    path = tmp_path / "centroids.csv"
    write_centroids_csv(path, np.array([[4.0, 8.0, 8.0], [8.0, 16.0, 16.0]]))
    transform = CentroidsToDensityd(keys="centroids", ref_key="image", density_keys="density", allow_missing_keys=True)
    image = meta_image((16, 32, 32), (1.0, 0.5, 0.5))
    out = transform({"image": image, "centroids": str(path)})
    assert isinstance(out["density"], MetaTensor) and out["density"].shape == (1, 16, 32, 32)
    assert float(out["density"].sum()) == pytest.approx(2.0, abs=1e-4)
    assert "density" not in transform({"image": image})
