from __future__ import annotations

import numpy as np
import pytest

from cellbundles.metrics.contingency import label_overlap


def _dense_overlap(y_true, y_pred):
    """Reference: every (true, pred) pair counted with a python dictionary."""
    counts = {}
    for t, p in zip(y_true.ravel().tolist(), y_pred.ravel().tolist()):
        counts[(t, p)] = counts.get((t, p), 0) + 1
    return counts


def _random_labels(rng, shape, n_labels, max_id):
    ids = np.concatenate(([0], rng.choice(np.arange(1, max_id), size=n_labels, replace=False)))
    # blocky labels so that objects span several voxels and overlap several others
    coarse = rng.integers(0, ids.size, size=tuple(max(1, s // 3) for s in shape))
    labels = ids[coarse]
    for axis, size in enumerate(shape):
        labels = np.repeat(labels, 3, axis=axis)[(slice(None),) * axis + (slice(0, size),)]
    return labels


@pytest.mark.parametrize("shape", [(31, 47), (9, 20, 23)])
@pytest.mark.parametrize("chunk_voxels", [1, 50, 1 << 22])
def test_overlap_matches_dense_count(shape, chunk_voxels):
    rng = np.random.default_rng(0)
    y_true = _random_labels(rng, shape, 12, 1000)
    y_pred = _random_labels(rng, shape, 9, 70000).astype(np.uint32)
    overlap = label_overlap(y_true, y_pred, chunk_voxels=chunk_voxels)
    dense = _dense_overlap(y_true, y_pred)

    np.testing.assert_array_equal(overlap.true_ids, np.unique(y_true[y_true > 0]))
    np.testing.assert_array_equal(overlap.pred_ids, np.unique(y_pred[y_pred > 0]))
    np.testing.assert_array_equal(overlap.true_sizes, [np.count_nonzero(y_true == i) for i in overlap.true_ids])
    np.testing.assert_array_equal(overlap.pred_sizes, [np.count_nonzero(y_pred == i) for i in overlap.pred_ids])
    found = {
        (overlap.true_ids[i], overlap.pred_ids[j]): c
        for i, j, c in zip(overlap.true_index, overlap.pred_index, overlap.intersections)
    }
    assert found == {k: v for k, v in dense.items() if k[0] and k[1]}
    i, j = overlap.true_index, overlap.pred_index
    np.testing.assert_allclose(
        overlap.iou, overlap.intersections / (overlap.true_sizes[i] + overlap.pred_sizes[j] - overlap.intersections)
    )


def test_overlap_accepts_large_ids_floats_and_bool():
    y_true = np.zeros((4, 6), dtype=np.uint64)
    y_true[:2, :3] = np.iinfo(np.uint64).max
    y_pred = np.zeros((4, 6), dtype=np.float32)
    y_pred[1:3, 1:4] = 7.0
    overlap = label_overlap(y_true, y_pred)
    assert overlap.true_ids.tolist() == [np.iinfo(np.uint64).max]
    assert overlap.pred_ids.tolist() == [7]
    assert overlap.intersections.tolist() == [2]
    assert label_overlap(y_true > 0, y_pred > 0).intersections.tolist() == [2]


def test_select_drops_objects():
    y_true = np.array([[1, 1, 2, 2, 0]])
    y_pred = np.array([[5, 6, 6, 6, 6]])
    overlap = label_overlap(y_true, y_pred).select(np.array([False, True]), np.array([True, True]))
    assert overlap.true_ids.tolist() == [2]
    assert list(zip(overlap.true_index, overlap.pred_index, overlap.intersections)) == [(0, 1, 2)]


@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        (np.zeros((3, 3), int), np.zeros((3, 4), int), "differ in shape"),
        (np.full((2, 2), -1), np.zeros((2, 2), int), "non-negative"),
        (np.full((2, 2), 0.5), np.zeros((2, 2)), "integer labels"),
        (np.full((2, 2), np.nan), np.zeros((2, 2)), "integer labels"),
        (np.zeros((0, 2), int), np.zeros((0, 2), int), "empty"),
        (np.array([["a"]]), np.array([["b"]]), "integer labels"),
    ],
)
def test_bad_input_raises(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        label_overlap(y_true, y_pred)
