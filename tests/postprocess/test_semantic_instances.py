from __future__ import annotations

import glob

import numpy as np
import pytest
from scipy import ndimage

from cellbundles.io import read_labels
from cellbundles.metrics import match_instances
from cellbundles.postprocess.semantic import (
    instances_from_binary,
    instances_from_three_class,
    remove_small_instances,
    split_touching,
)
from cellbundles.postprocess.watershed import watershed_from_markers
from cellbundles.transforms import three_class_map


def discs(shape, centres, radius) -> np.ndarray:
    """Instance labels of discs, later ones drawn over earlier ones."""
    rows, cols = np.indices(shape)
    labels = np.zeros(shape, dtype=np.int32)
    for index, (r, c) in enumerate(centres, start=1):
        labels[(rows - r) ** 2 + (cols - c) ** 2 <= radius**2] = index
    return labels


def one_hot(classes: np.ndarray) -> np.ndarray:
    return np.eye(3, dtype=np.float32)[classes].transpose(2, 0, 1)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return np.count_nonzero(a & b) / np.count_nonzero(a | b)


def test_two_touching_discs_become_two_instances_from_three_classes():
    truth = discs((48, 64), [(24, 22), (24, 41)], 10)
    assert ndimage.label(truth > 0)[1] == 1  # they touch: one blob
    labels = instances_from_three_class(one_hot(three_class_map(truth)))
    assert labels.dtype == np.int32 and set(np.unique(labels)) == {0, 1, 2}
    assert np.array_equal(labels > 0, truth > 0)
    for index in (1, 2):
        match = labels[truth == index][0]
        assert iou(labels == match, truth == index) > 0.95
    # the binary route merges them
    merged = instances_from_binary(truth > 0)
    assert set(np.unique(merged)) == {0, 1}


def test_three_class_scores_need_not_be_one_hot():
    truth = discs((48, 64), [(24, 22), (24, 41)], 10)
    rng = np.random.default_rng(0)
    logits = 4.0 * one_hot(three_class_map(truth)) + rng.normal(0.0, 0.5, (3, 48, 64)).astype(np.float32)
    labels = instances_from_three_class(logits, min_size=20, min_seed_size=5)
    assert labels.max() == 2


def test_binary_instances_threshold_connectivity_and_min_size():
    truth = discs((40, 40), [(10, 10), (28, 28)], 6)
    probability = (truth > 0) * 0.8
    probability[2, 36] = 0.9  # a one-pixel speck
    labels = instances_from_binary(probability, threshold=0.5)
    assert labels.max() == 3
    labels = instances_from_binary(probability, threshold=0.5, min_size=5)
    assert labels.max() == 2 and labels[2, 36] == 0
    assert set(np.unique(labels[truth > 0])) == {1, 2}
    assert not instances_from_binary(probability, threshold=0.95).any()
    diagonal = np.zeros((4, 4), dtype=bool)
    diagonal[1, 1] = diagonal[2, 2] = True
    assert instances_from_binary(diagonal).max() == 2
    assert instances_from_binary(diagonal, connectivity=2).max() == 1


def test_split_touching_separates_touching_discs_at_their_neck():
    truth = discs((48, 64), [(24, 22), (24, 41)], 10)
    labels = split_touching(truth > 0)
    assert labels.dtype == np.int32 and labels.max() == 2
    assert np.array_equal(labels > 0, truth > 0)
    for index in (1, 2):
        match = labels[truth == index][0]
        assert iou(labels == match, truth == index) > 0.9
    assert instances_from_binary(truth > 0, split_h=0.5).max() == 2
    assert instances_from_binary(truth > 0).max() == 1  # split_h 0: connected components


def test_split_touching_keeps_convex_and_thin_objects_whole():
    rows, cols = np.indices((40, 80))
    ellipse = ((rows - 20) / 8.0) ** 2 + ((cols - 25) / 18.0) ** 2 <= 1
    line = (rows == 5) & (cols >= 50) & (cols < 75)  # one pixel wide: no distance maximum of height h
    labels = split_touching(ellipse | line, h=0.5)
    assert labels.max() == 2
    assert len(np.unique(labels[ellipse])) == 1 and len(np.unique(labels[line])) == 1
    # a larger h splits less: two discs overlapping deeply stay one object
    overlapping = discs((48, 64), [(24, 27), (24, 37)], 10) > 0
    assert split_touching(overlapping, h=0.5).max() == 2
    assert split_touching(overlapping, h=4.0).max() == 1


def test_fill_holes_makes_a_ring_one_solid_nucleus():
    ring = (discs((40, 40), [(20, 20)], 12) > 0) & ~(discs((40, 40), [(20, 20)], 5) > 0)
    filled = instances_from_binary(ring, fill_holes=True, split_h=0.5)
    assert filled.max() == 1
    assert np.array_equal(filled > 0, discs((40, 40), [(20, 20)], 12) > 0)
    assert not instances_from_binary(ring)[20, 20]  # without filling the hole stays background


def test_remove_small_instances_relabels_in_order():
    labels = np.zeros((10, 10), dtype=np.int64)
    labels[0:3, 0:3] = 5  # 9 pixels
    labels[5, 5] = 7  # 1 pixel
    labels[6:10, 6:10] = 9  # 16 pixels
    kept = remove_small_instances(labels, min_size=4)
    assert kept.dtype == np.int32
    assert kept[1, 1] == 1 and kept[5, 5] == 0 and kept[8, 8] == 2
    assert np.array_equal(remove_small_instances(labels, 4, relabel=False)[[1, 5, 8], [1, 5, 8]], [5, 0, 9])
    with pytest.raises(ValueError, match="non-negative integers"):
        remove_small_instances(labels.astype(float), 4)


def test_border_only_objects_are_labelled_or_dropped_and_specks_do_not_seed():
    classes = three_class_map(discs((40, 60), [(20, 15)], 8))
    classes[5:7, 45:47] = 2  # a small object predicted as border only
    labels = instances_from_three_class(one_hot(classes))
    assert labels.max() == 2 and labels[5, 45] == 2
    assert instances_from_three_class(one_hot(classes), unseeded="drop").max() == 1
    assert instances_from_three_class(one_hot(classes), min_size=5).max() == 1
    # an interior speck separated from the nucleus interior by a border ring would split it
    speckled = classes.copy()
    speckled[20, 18:21] = 2
    speckled[20, 21] = 1
    speckled[19, 21] = speckled[21, 21] = speckled[20, 22] = 2
    assert instances_from_three_class(one_hot(speckled), unseeded="drop").max() == 2
    assert instances_from_three_class(one_hot(speckled), min_seed_size=2, unseeded="drop").max() == 1


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match=r"\(3, \[D,\] H, W\)"):
        instances_from_three_class(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="NaN"):
        instances_from_three_class(np.full((3, 8, 8), np.nan))
    with pytest.raises(ValueError, match="without channel axis"):
        instances_from_binary(np.zeros(8))
    with pytest.raises(ValueError, match="connectivity"):
        instances_from_binary(np.zeros((8, 8)), connectivity=3)
    with pytest.raises(ValueError, match="split_h"):
        instances_from_binary(np.zeros((8, 8)), split_h=-1)
    with pytest.raises(ValueError, match="boolean"):
        split_touching(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="h must be positive"):
        split_touching(np.zeros((8, 8), bool), h=0)
    with pytest.raises(ValueError, match="shape of the mask"):
        watershed_from_markers(np.ones((4, 4), bool), np.zeros((4, 5), int))


def test_dsb_nuclei_are_recovered_from_their_three_class_map():
    paths = sorted(glob.glob("data/samples/dsb2018_stage1_train/labels/094afe36*.png"))
    truth, _ = read_labels(paths[0])
    labels = instances_from_three_class(one_hot(three_class_map(truth)))
    merged = instances_from_binary(truth > 0)
    ids = [i for i in np.unique(truth) if i > 0]
    matched = 0
    for index in ids:
        nucleus = truth == index
        candidates, counts = np.unique(labels[nucleus], return_counts=True)
        best = candidates[np.argmax(counts)]
        matched += best > 0 and iou(labels == best, nucleus) >= 0.5
    assert matched >= 0.9 * len(ids)
    assert labels.max() > merged.max()  # touching nuclei that the binary route merges are split


def test_splitting_dsb_masks_recovers_more_nuclei_than_connected_components():
    paths = sorted(glob.glob("data/samples/dsb2018_stage1_train/labels/094afe36*.png"))
    truth, _ = read_labels(paths[0])
    merged = match_instances(truth, instances_from_binary(truth > 0))
    split = match_instances(truth, instances_from_binary(truth > 0, split_h=0.5))
    assert split.tp > merged.tp and split.accuracy > merged.accuracy + 0.05


def test_grow_instances_fills_the_seam_but_never_another_instance():
    from cellbundles.postprocess import grow_instances

    labels = np.zeros((9, 12, 20), np.int32)
    labels[2:7, 3:9, 3:9], labels[2:7, 3:9, 11:17] = 1, 2  # two boxes 2 voxels apart in x
    foreground = np.full(labels.shape, 0.02, np.float32)
    foreground[2:7, 3:9, 9:11] = 0.3  # the seam between them: low but non-zero nucleus probability
    np.testing.assert_array_equal(grow_instances(labels, foreground, 0), labels)
    grown = grow_instances(labels, foreground, 1, threshold=0.1)
    assert grown.dtype == labels.dtype
    # one voxel of the seam to each box, nothing into the clear background, the boxes keep their voxels
    assert (grown[2:7, 3:9, 9] == 1).all() and (grown[2:7, 3:9, 10] == 2).all()
    assert ((grown > 0) == ((labels > 0) | (foreground > 0.1))).all()
    assert (grown[labels > 0] == labels[labels > 0]).all()
    # without a threshold every instance grows by one voxel everywhere, still never into the other one
    everywhere = grow_instances(labels, foreground, 1)
    assert (everywhere > 0).sum() > (grown > 0).sum() and (everywhere[labels > 0] == labels[labels > 0]).all()
    assert ((everywhere > 0) <= ndimage.binary_dilation(labels > 0, ndimage.generate_binary_structure(3, 3))).all()
    with pytest.raises(ValueError, match="steps"):
        grow_instances(labels, foreground, -1)
    with pytest.raises(ValueError, match="same shape"):
        grow_instances(labels, foreground[1:], 1)
