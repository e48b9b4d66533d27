from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cellbundles.io import read_labels
from cellbundles.postprocess import seeded_watershed
from cellbundles.transforms import CentroidsFromLabels


def spheres(shape, centres, radius):
    grid = np.indices(shape)
    mask = np.zeros(shape, dtype=bool)
    for centre in centres:
        mask |= sum((g - c) ** 2 for g, c in zip(grid, centre)) <= radius**2
    return mask


def test_two_touching_spheres_split_into_two_labels():
    centres = [(12, 12, 10), (12, 12, 20)]
    mask = spheres((24, 24, 30), centres, 6)
    assert ndimage.label(mask)[1] == 1  # one connected blob
    labels = seeded_watershed(mask, np.array(centres))
    assert labels.dtype == np.int32 and set(np.unique(labels)) == {0, 1, 2}
    assert np.array_equal(labels > 0, mask)
    assert labels[12, 12, 10] == 1 and labels[12, 12, 20] == 2
    # the split runs along the neck, the mid-plane x = 15
    assert np.mean(labels[..., :15][mask[..., :15]] == 1) > 0.99
    assert np.mean(labels[..., 16:][mask[..., 16:]] == 2) > 0.99


def test_probability_input_and_two_dimensions():
    probability = spheres((30, 40), [(15, 12), (15, 26)], 8).astype(np.float32) * 0.9
    labels = seeded_watershed(probability, np.array([[15.2, 11.8], [14.6, 26.4]]), threshold=0.5)
    assert set(np.unique(labels)) == {0, 1, 2}


def test_unseeded_components_are_labelled_or_dropped():
    mask = spheres((20, 20, 40), [(10, 10, 8), (10, 10, 30)], 5)
    seeds = np.array([[10, 10, 8], [0, 0, 20]])  # the second seed lies in the background
    labelled = seeded_watershed(mask, seeds)
    assert set(np.unique(labelled)) == {0, 1, 3}
    assert labelled[10, 10, 30] == 3
    dropped = seeded_watershed(mask, seeds, unseeded="drop")
    assert set(np.unique(dropped)) == {0, 1} and dropped[10, 10, 30] == 0


def test_no_seed_at_all():
    mask = spheres((10, 10, 10), [(5, 5, 5)], 3)
    assert set(np.unique(seeded_watershed(mask, np.zeros((0, 3))))) == {0, 1}
    assert not seeded_watershed(mask, np.zeros((0, 3)), unseeded="drop").any()


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="unseeded"):
        seeded_watershed(np.ones((4, 4), bool), np.zeros((0, 2)), unseeded="merge")
    with pytest.raises(ValueError, match="NaN"):
        seeded_watershed(np.ones((4, 4), bool), np.array([[np.nan, 1.0]]))


def test_real_stardist_nuclei_are_recovered_from_their_centroids():
    labels, _ = read_labels("data/samples/stardist_testdata/mask3d.tif")
    centroids = CentroidsFromLabels()(labels[None])
    instances = seeded_watershed(labels > 0, centroids, spacing=(2.0, 1.0, 1.0), unseeded="drop")
    ids = [i for i in np.unique(labels) if i > 0]
    matched = 0
    for row, index in enumerate(ids, start=1):
        overlap = np.count_nonzero((labels == index) & (instances == row))
        union = np.count_nonzero((labels == index) | (instances == row))
        matched += overlap / union >= 0.5
    assert matched >= 0.8 * len(ids)


def test_seed_distance_splits_a_merged_mask_between_its_seeds():
    """Three nuclei merged into one bar-shaped mask without necks: the seed distance gives each seed its third
    (up to the tied columns half-way between seeds)."""
    mask = np.zeros((12, 90), bool)
    mask[2:10, :] = True
    seeds = np.array([[6, 15], [6, 45], [6, 75]])
    by_seed = seeded_watershed(mask, seeds, flood="seed_distance")
    assert [int((by_seed == label).sum()) for label in (1, 2, 3)] == pytest.approx([240, 240, 240], abs=8)
    assert (by_seed[:, :30] == 1)[2:10].all() and (by_seed[:, 60:] == 3)[2:10].all()
    with pytest.raises(ValueError, match="flood"):
        seeded_watershed(mask, seeds, flood="nearest")


def test_seed_distance_uses_the_spacing():
    """With a z step 4x the x step, a voxel 2 steps from seed 1 in z and 5 steps from seed 2 in x is nearer seed 2."""
    mask = np.ones((9, 1, 12), bool)
    seeds = np.array([[0, 0, 0], [2, 0, 10]])
    labels = seeded_watershed(mask, seeds, spacing=(4.0, 1.0, 1.0), flood="seed_distance")
    assert labels[2, 0, 5] == 2
    assert labels[0, 0, 0] == 1 and labels[0, 0, 4] == 1


def test_seed_distance_split_follows_the_dip_of_the_probability():
    """A large and a small nucleus touching at x = 24: the bisector of their seeds (x = 22.5) cuts into the large
    one; with the nucleus probability dipping at the contact, the split moves there."""
    mask = np.zeros((10, 40), bool)
    mask[2:8, 2:36] = True
    seeds = np.array([[5, 12], [5, 33]])
    probability = np.where(mask, 0.95, 0.0)
    probability[:, 24] = 0.3  # the seam a seam-trained network draws between the two nuclei
    bisected = seeded_watershed(mask, seeds, flood="seed_distance")
    assert (bisected[5, 23:25] == 2).all()
    split = seeded_watershed(mask, seeds, flood="seed_distance", probability=probability, probability_weight=10.0)
    assert (split[2:8, 2:24] == 1).all() and (split[2:8, 25:36] == 2).all()
    assert np.array_equal(split > 0, mask)
    # no weight: the bisector again
    assert np.array_equal(seeded_watershed(mask, seeds, flood="seed_distance", probability=probability), bisected)


def test_probability_needs_seed_distance_and_the_shape_of_the_mask():
    mask = np.ones((6, 6), bool)
    seeds = np.array([[1, 1]])
    with pytest.raises(ValueError, match="seed_distance"):
        seeded_watershed(mask, seeds, probability=np.ones((6, 6)), probability_weight=1.0)
    with pytest.raises(ValueError, match="shape"):
        seeded_watershed(mask, seeds, flood="seed_distance", probability=np.ones((5, 6)), probability_weight=1.0)
