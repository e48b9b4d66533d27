"""Phantom triples of seed 001 for the Recycle-GAN (issue 15, item 1)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from cellbundles.io import read_image, read_labels
from cellbundles.synth import gan_phantom3d, label_ellipticity, paired_targets, randomised_nuclei3d
from cellbundles.synth.dataset import write_dataset

SMALL = {"shape": (24, 48, 48), "spacing": (1.0, 0.5, 0.5), "semi_axes_um": (2.0, 3.5)}


def test_triple_is_consistent_with_its_labels():
    sample = gan_phantom3d(seed=3, **SMALL)
    labels, n = sample["labels"], int(sample["labels"].max())
    assert n >= 3 and labels.shape == SMALL["shape"]
    np.testing.assert_array_equal(sample["binary"], labels > 0)
    assert not np.any(sample["contour"][labels == 0]) and np.all(sample["contour"] <= sample["binary"])
    marker = sample["shapemarker"]
    assert not np.any(marker[labels == 0]) and np.all(marker[labels > 0] > 0)
    axes = sample["semi_axes_um"]
    assert np.all((axes >= 2.0) & (axes <= 3.5))
    for label in range(1, n + 1):  # one value per nucleus: 255 x shortest / longest semi-axis
        expected = np.round(255 * axes[label - 1].min() / axes[label - 1].max())
        assert set(np.unique(marker[labels == label])) <= {expected}
    image = sample["image"]
    assert image.dtype == np.float32 and 0.0 <= image.min() and image.max() <= 1.0
    blurred = ndimage.gaussian_filter(sample["binary"].astype(np.float32), 2.0, mode="constant")
    np.testing.assert_allclose(image, blurred, atol=1e-6)
    assert json.loads(json.dumps(sample["params"])) == sample["params"]


def test_density_semi_axes_and_orientation_are_parameters():
    sparse = gan_phantom3d(seed=1, packing=0.05, **SMALL)
    dense = gan_phantom3d(seed=1, packing=0.35, **SMALL)
    assert sparse["binary"].mean() < 0.1 < 0.2 < dense["binary"].mean()
    aligned = gan_phantom3d(
        seed=2, orientation="aligned", cut_border=False, packing=0.1, touching_fraction=0.0, **SMALL
    )
    boxes = ndimage.find_objects(aligned["labels"])
    for box, axes in zip(boxes, aligned["semi_axes_um"]):  # box extent along each axis follows its semi-axis
        extent_um = np.array([s.stop - s.start for s in box]) * np.array(SMALL["spacing"])
        assert np.all(np.abs(extent_um - 2 * axes) <= 1.5 * np.array(SMALL["spacing"]) + 1e-9)
    with pytest.raises(ValueError, match="orientation"):
        gan_phantom3d(orientation="sideways", **SMALL)


def test_a_packing_range_draws_one_density_per_volume():
    drawn = [gan_phantom3d(seed=seed, packing=(0.05, 0.35), **SMALL)["params"]["packing"] for seed in range(6)]
    assert all(0.05 <= p <= 0.35 for p in drawn) and max(drawn) - min(drawn) > 0.1
    again = gan_phantom3d(seed=3, packing=(0.05, 0.35), **SMALL)
    assert again["params"]["packing"] == drawn[3]
    np.testing.assert_array_equal(again["labels"], gan_phantom3d(seed=3, packing=drawn[3], **SMALL)["labels"])


def test_randomised_generator_keeps_its_draws_without_the_new_keywords():
    drawn = randomised_nuclei3d(5, shape=(16, 40, 40))
    assert drawn["params"]["semi_axes_um"] is None and drawn["params"]["orientation"] == "random"
    fixed = randomised_nuclei3d(5, shape=(16, 40, 40), semi_axes_um=(1.5, 2.0), elongation=1.0, radius_um=(1.5, 2.0))
    assert np.all((fixed["semi_axes_um"] >= 1.5) & (fixed["semi_axes_um"] <= 2.0))


def test_label_ellipticity_of_a_sphere_and_a_spheroid():
    grid = np.indices((41, 41, 41)) - 20.0
    labels = np.zeros((41, 41, 41), np.uint16)
    labels[(grid[0] / 8) ** 2 + (grid[1] / 8) ** 2 + (grid[2] / 8) ** 2 <= 1] = 1
    spheroid = np.zeros_like(labels)
    spheroid[(grid[0] / 4) ** 2 + (grid[1] / 16) ** 2 + (grid[2] / 8) ** 2 <= 1] = 1
    assert label_ellipticity(labels)[1] == pytest.approx(1.0, abs=0.02)
    assert label_ellipticity(spheroid)[1] == pytest.approx(0.25, abs=0.02)
    # the same spheroid sampled at half the z step: the physical shape is what counts
    assert label_ellipticity(spheroid[::2], spacing=(2.0, 1.0, 1.0))[1] == pytest.approx(0.25, abs=0.03)
    targets = paired_targets(spheroid)
    assert set(np.unique(targets["shapemarker"])) == {0, int(np.round(255 * label_ellipticity(spheroid)[1]))}
    np.testing.assert_array_equal(targets["binary"], spheroid)


def test_paired_targets_match_the_generator_on_phantoms():
    sample = gan_phantom3d(seed=4, cut_border=False, touching_fraction=0.0, **SMALL)
    targets = paired_targets(sample["labels"], SMALL["spacing"])
    np.testing.assert_array_equal(targets["contour"], sample["contour"])
    inside = sample["labels"] > 0
    difference = np.abs(targets["shapemarker"][inside].astype(int) - sample["shapemarker"][inside].astype(int))
    assert np.median(difference) <= 20  # voxelisation of nuclei a few voxels across


def test_written_in_the_canonical_layout_with_spacing(tmp_path):
    path = write_dataset(tmp_path / "gan", "nuclei3d_gan", 2, seed=7, spacing=(1.0, 0.5, 0.5), val_fraction=0.5,
                         shape=(16, 40, 40), semi_axes_um=(2.0, 3.0))  # fmt: skip
    ids = [f"nuclei3d_gan_s7_{i:03d}" for i in range(2)]
    for folder in ("images", "labels", "binary", "contour", "shapemarker"):
        assert sorted(p.name for p in (tmp_path / "gan" / folder).iterdir()) == [f"{i}.tif" for i in ids]
    expected = gan_phantom3d(np.random.SeedSequence([7, 1]), shape=(16, 40, 40), spacing=(1.0, 0.5, 0.5),
                             semi_axes_um=(2.0, 3.0))  # fmt: skip
    image, spacing = read_image(tmp_path / "gan" / "images" / f"{ids[1]}.tif")
    np.testing.assert_allclose(image, expected["image"])
    assert spacing == pytest.approx((1.0, 0.5, 0.5))
    labels, _ = read_labels(tmp_path / "gan" / "labels" / f"{ids[1]}.tif")
    np.testing.assert_array_equal(labels, expected["labels"])
    assert json.loads(path.read_text())["validation"]
