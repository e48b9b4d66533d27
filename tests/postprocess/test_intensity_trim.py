"""trim_to_intensity: each instance cut back to its own half-maximum edge in the image."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cellbundles.postprocess import trim_to_intensity


def blurred_balls():
    """Two isolated balls of radius 5 (one twice as bright), blurred, and labels drawn 1 voxel too wide."""
    grid = np.indices((24, 32, 56))
    centres, brightness = [(12, 16, 14), (12, 16, 40)], [100.0, 200.0]
    truth = np.zeros(grid.shape[1:], np.int32)
    image = np.full(grid.shape[1:], 10.0, np.float32)
    fat = np.zeros_like(truth)
    for index, (centre, value) in enumerate(zip(centres, brightness), start=1):
        distance = np.sqrt(sum((axis - c) ** 2 for axis, c in zip(grid, centre)))
        truth[distance <= 5] = index
        fat[distance <= 6] = index
        image[distance <= 5] += value
    return truth, fat, ndimage.gaussian_filter(image, 1.0)


def test_labels_drawn_too_wide_come_back_to_the_edge_of_each_nucleus():
    truth, fat, image = blurred_balls()
    trimmed = trim_to_intensity(fat, image, fraction=0.5)
    assert trimmed.dtype == np.int32 and set(np.unique(trimmed)) == {0, 1, 2}
    assert ((trimmed > 0) <= (fat > 0)).all()  # only removes voxels
    for index in (1, 2):  # the dim and the bright nucleus alike: the wide labels have 1.8 x the true volume
        true_voxels, wide_voxels, kept = (truth == index).sum(), (fat == index).sum(), (trimmed == index).sum()
        assert wide_voxels > 1.75 * true_voxels
        assert true_voxels < kept < wide_voxels - 0.4 * (wide_voxels - true_voxels)  # 40 % of the excess gone
        assert ((truth == index) <= (trimmed == index)).all()  # nothing of the nucleus itself is cut


def test_a_higher_fraction_keeps_a_subset():
    truth, fat, image = blurred_balls()
    loose = trim_to_intensity(fat, image, fraction=0.0)
    strict = trim_to_intensity(fat, image, fraction=1.0)
    half = trim_to_intensity(fat, image, fraction=0.5)
    assert ((strict > 0) <= (half > 0)).all() and ((half > 0) <= (loose > 0)).all() and (strict > 0).sum() < (half > 0).sum()
    np.testing.assert_array_equal(loose, fat)  # the blur reaches past the wide labels: all of them are above the background


def test_a_dark_hole_inside_an_instance_is_kept_and_no_instance_is_emptied():
    labels = np.zeros((9, 9, 9), np.int32)
    labels[1:8, 1:8, 1:8] = 1
    image = np.where(labels > 0, 100.0, 0.0).astype(np.float32)
    image[4, 4, 4] = 0.0  # a dark voxel (a nucleolus) in the middle
    kept = trim_to_intensity(labels, image, fraction=0.5, sigma_voxels=0)
    assert kept[4, 4, 4] == 1 and (kept == 1).sum() == (labels == 1).sum()
    dark = np.zeros_like(image)  # an instance on a flat image: no voxel passes, the instance stays whole
    np.testing.assert_array_equal(trim_to_intensity(labels, dark, fraction=0.5), labels)


def test_bad_arguments_are_refused():
    labels = np.zeros((4, 4), np.int32)
    with pytest.raises(ValueError, match="same shape"):
        trim_to_intensity(labels, np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\]"):
        trim_to_intensity(labels, np.zeros((4, 4)), fraction=1.5)
    np.testing.assert_array_equal(trim_to_intensity(labels, np.ones((4, 4))), labels)
