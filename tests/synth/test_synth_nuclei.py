from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cellbundles.synth import nuclei2d, nuclei3d

SMALL_3D = dict(shape=(32, 64, 64), n_nuclei=8)


def _adjacent_pairs(labels: np.ndarray, connectivity: int) -> set[tuple[int, int]]:
    """Pairs (a, b), a < b, of distinct labels sharing a neighbourhood of the given connectivity."""
    footprint = ndimage.generate_binary_structure(labels.ndim, connectivity)
    larger = ndimage.maximum_filter(labels, footprint=footprint, mode="constant")
    pairs = set()
    for label in np.unique(labels[(labels > 0) & (larger > labels)]):
        grown = ndimage.binary_dilation(labels == label, structure=footprint)
        pairs |= {(int(label), int(other)) for other in np.unique(labels[grown]) if other > label}
    return pairs


def test_nuclei3d_outputs():
    sample = nuclei3d(**SMALL_3D, seed=1)
    shape = SMALL_3D["shape"]
    assert sample["image"].dtype == np.float32 and sample["image"].shape == shape
    for key in ("labels",):
        assert sample[key].dtype == np.uint16 and sample[key].shape == shape
    for key in ("binary", "contour", "shapemarker"):
        assert sample[key].dtype == np.uint8 and sample[key].shape == shape
    assert sample["centroids"].shape == sample["centroids_um"].shape == sample["semi_axes_um"].shape == (8, 3)
    assert sample["spacing"] == (0.8, 0.5, 0.5)
    np.testing.assert_allclose(sample["centroids_um"], sample["centroids"] * np.array([0.8, 0.5, 0.5]))
    np.testing.assert_array_equal(np.unique(sample["labels"]), np.arange(9))
    np.testing.assert_array_equal(sample["binary"], (sample["labels"] > 0).astype(np.uint8))
    assert set(np.unique(sample["contour"])) == {0, 1}
    assert ((sample["semi_axes_um"] >= 2.5) & (sample["semi_axes_um"] <= 4.0)).all()
    inside, outside = sample["image"][sample["binary"] > 0].mean(), sample["image"][sample["binary"] == 0].mean()
    assert inside > outside + 0.2


def test_nuclei3d_is_deterministic():
    first, again, other = nuclei3d(**SMALL_3D, seed=7), nuclei3d(**SMALL_3D, seed=7), nuclei3d(**SMALL_3D, seed=8)
    for key in ("image", "labels", "centroids", "semi_axes_um", "contour", "shapemarker"):
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["labels"], other["labels"])
    assert not np.array_equal(first["image"], other["image"])


def test_nuclei3d_centroids_lie_inside_their_labels():
    sample = nuclei3d(**SMALL_3D, seed=2)
    labels, centroids = sample["labels"], sample["centroids"]
    expected = np.asarray(ndimage.center_of_mass(labels > 0, labels, np.arange(1, 9)))
    assert np.abs(centroids - expected).max() < 1.0
    voxel = np.round(centroids).astype(int)
    np.testing.assert_array_equal(labels[tuple(voxel.T)], np.arange(1, 9))


def test_nuclei3d_volumes_match_ellipsoids_and_each_nucleus_is_one_piece():
    sample = nuclei3d(**SMALL_3D, seed=3)
    labels, semi_axes = sample["labels"], sample["semi_axes_um"]
    volumes = np.bincount(labels.ravel(), minlength=9)[1:]
    expected = 4.0 / 3.0 * np.pi * semi_axes.prod(axis=1) / np.prod(sample["spacing"])
    np.testing.assert_allclose(volumes, expected, rtol=0.1)  # no nucleus lost voxels to another
    for label in range(1, 9):
        assert ndimage.label(labels == label)[1] == 1


def test_nuclei3d_separated_without_touching_fraction():
    sample = nuclei3d(shape=(32, 64, 64), n_nuclei=15, seed=4)
    assert _adjacent_pairs(sample["labels"], connectivity=3) == set()
    binary = sample["binary"].astype(bool)
    face = ndimage.generate_binary_structure(3, 1)
    boundary = binary & ~ndimage.binary_erosion(binary, structure=face, border_value=0)
    np.testing.assert_array_equal(sample["contour"].astype(bool), boundary)


def test_nuclei3d_touching_fraction_creates_contacts():
    sample = nuclei3d(shape=(32, 64, 64), n_nuclei=12, touching_fraction=0.5, seed=5)
    labels = sample["labels"]
    pairs = _adjacent_pairs(labels, connectivity=1)
    touching_nuclei = {label for pair in pairs for label in pair}
    assert len(pairs) >= 6 and len(touching_nuclei) >= 7
    # touching nuclei still do not overlap: each keeps its ellipsoid volume
    volumes = np.bincount(labels.ravel(), minlength=13)[1:]
    expected = 4.0 / 3.0 * np.pi * sample["semi_axes_um"].prod(axis=1) / np.prod(sample["spacing"])
    np.testing.assert_allclose(volumes, expected, rtol=0.1)
    # each nucleus keeps its own boundary where it touches another
    a, b = next(iter(pairs))
    face = ndimage.generate_binary_structure(3, 1)
    contact = ndimage.binary_dilation(labels == b, structure=face) & (labels == a)
    assert contact.any() and sample["contour"][contact].all()


def test_anisotropic_spacing_changes_voxel_extent():
    # spheres of radius 3 um are 6 / spacing voxels across, give or take a voxel for the sub-voxel centre
    spheres = dict(shape=(24, 48, 48), n_nuclei=3, radius_range_um=(3.0, 3.0), seed=6)
    for spacing, expected in (((1.0, 0.5, 0.5), (6, 12, 12)), ((0.5, 0.5, 1.0), (12, 12, 6))):
        labels = nuclei3d(spacing=spacing, **spheres)["labels"]
        for box in ndimage.find_objects(labels):
            extent = tuple(s.stop - s.start for s in box)
            assert all(abs(e - x) <= 1 for e, x in zip(extent, expected)), (spacing, extent)


def test_shapemarker_is_higher_for_spheres():
    spheres = nuclei3d(**SMALL_3D, radius_range_um=(3.0, 3.0), seed=8)
    elongated = nuclei3d(**SMALL_3D, radius_range_um=(1.5, 4.5), seed=8)
    assert set(np.unique(spheres["shapemarker"])) == {0, 255}
    inside = elongated["labels"] > 0
    assert elongated["shapemarker"][inside].mean() < 200
    np.testing.assert_array_equal(elongated["shapemarker"][~inside], 0)
    axes = elongated["semi_axes_um"]
    expected = np.round(255 * axes.min(axis=1) / axes.max(axis=1)).astype(np.uint8)
    for label in range(1, 9):
        np.testing.assert_array_equal(elongated["shapemarker"][elongated["labels"] == label], expected[label - 1])


def test_clean_image_is_blurred_binary():
    sample = nuclei3d(
        **SMALL_3D, texture=0.0, background=0.0, intensity_range=(1.0, 1.0), poisson_photons=None, gaussian_noise_std=0.0
    )
    blurred = ndimage.gaussian_filter(sample["binary"].astype(np.float32), 2.0, mode="nearest")
    np.testing.assert_allclose(sample["image"], blurred, atol=1e-5)


def test_nuclei3d_rejects_impossible_requests():
    with pytest.raises(ValueError, match="could not place nucleus"):
        nuclei3d(shape=(16, 32, 32), n_nuclei=200, max_attempts=20)
    with pytest.raises(ValueError, match="touching_fraction"):
        nuclei3d(**SMALL_3D, touching_fraction=1.5)
    with pytest.raises(ValueError, match="radius"):
        nuclei3d(**SMALL_3D, radius_range_um=(4.0, 2.0))
    with pytest.raises(ValueError, match="spacing"):
        nuclei3d(**SMALL_3D, spacing=(1.0, 1.0))
    empty = nuclei3d(shape=(16, 16, 16), n_nuclei=0)
    assert empty["centroids"].shape == (0, 3) and not empty["labels"].any()


def test_nuclei2d_outputs_and_determinism():
    sample = nuclei2d(shape=(128, 128), n_nuclei=15, seed=0)
    again = nuclei2d(shape=(128, 128), n_nuclei=15, seed=0)
    assert set(sample) == {"image", "labels", "centroids", "binary", "contour"}
    assert sample["image"].shape == (128, 128) and sample["image"].dtype == np.float32
    assert sample["labels"].dtype == np.uint16 and sample["centroids"].shape == (15, 2)
    np.testing.assert_array_equal(np.unique(sample["labels"]), np.arange(16))
    for key in sample:
        np.testing.assert_array_equal(sample[key], again[key])
    assert not np.array_equal(sample["labels"], nuclei2d(shape=(128, 128), n_nuclei=15, seed=1)["labels"])
    voxel = np.round(sample["centroids"]).astype(int)
    np.testing.assert_array_equal(sample["labels"][tuple(voxel.T)], np.arange(1, 16))


def test_nuclei2d_touching_and_separated():
    separated = nuclei2d(shape=(128, 128), n_nuclei=15, touching_fraction=0.0, seed=2)["labels"]
    assert _adjacent_pairs(separated, connectivity=2) == set()
    touching = nuclei2d(shape=(128, 128), n_nuclei=15, touching_fraction=0.4, seed=2)["labels"]
    assert len(_adjacent_pairs(touching, connectivity=1)) >= 3


@pytest.mark.slow
def test_nuclei3d_large_volume():
    sample = nuclei3d(shape=(64, 256, 256), n_nuclei=60, touching_fraction=0.2, seed=0)
    assert sample["labels"].max() == 60 and sample["image"].shape == (64, 256, 256)
