from __future__ import annotations

import numpy as np
import pytest

from cellbundles.metrics import instance_centroids, match_centroids


def test_anisotropic_spacing_flips_the_match():
    true_zyx = np.array([[10.0, 10.0, 10.0]])
    pred_zyx = np.array([[11.0, 10.0, 10.0], [10.0, 13.0, 10.0]])  # one slice away / three rows away
    isotropic = match_centroids(true_zyx, pred_zyx, radius=3.28, spacing=(1.0, 1.0, 1.0))
    assert isotropic.pred_index.tolist() == [0]
    assert isotropic.distances.tolist() == [1.0]
    # 5 um slices, 0.5 um pixels: the slice neighbour is 5 um away, the row neighbour 1.5 um
    anisotropic = match_centroids(true_zyx, pred_zyx, radius=3.28, spacing=(5.0, 0.5, 0.5))
    assert anisotropic.pred_index.tolist() == [1]
    assert anisotropic.distances == pytest.approx([1.5])
    assert (anisotropic.tp, anisotropic.fp, anisotropic.fn) == (1, 1, 0)
    assert anisotropic.precision == 0.5 and anisotropic.recall == 1.0 and anisotropic.f1 == pytest.approx(2 / 3)


def test_matching_is_optimal_not_greedy():
    # greedy nearest-first pairs t0-p0 (distance 1) and leaves t1 alone; the optimum matches both
    true_zyx = np.array([[0.0, 0.0], [0.0, 2.5]])
    pred_zyx = np.array([[0.0, 1.0], [0.0, -1.5]])
    result = match_centroids(true_zyx, pred_zyx, radius=2.0)
    assert result.tp == 2
    assert sorted(zip(result.true_index.tolist(), result.pred_index.tolist())) == [(0, 1), (1, 0)]
    assert result.mean_distance == pytest.approx(1.5)


def test_radius_is_inclusive_and_coincident_points_match():
    true_zyx = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]])
    result = match_centroids(true_zyx, np.array([[0.0, 0.0, 2.0], [5.0, 5.0, 5.0]]), radius=2.0)
    assert result.tp == 2
    assert sorted(result.distances.tolist()) == [0.0, 2.0]


def test_empty_inputs_give_zeros():
    empty = match_centroids(np.zeros((0, 3)), np.array([[1.0, 2.0, 3.0]]), radius=3.28)
    assert (empty.tp, empty.fp, empty.fn, empty.precision, empty.recall, empty.f1) == (0, 1, 0, 0.0, 0.0, 0.0)
    nothing = match_centroids([], [], radius=1.0)
    assert (nothing.tp, nothing.n_true, nothing.n_pred, nothing.f1) == (0, 0, 0, 0.0)


def test_scores_agree_with_brute_force_on_random_points():
    rng = np.random.default_rng(0)
    true_zyx = rng.uniform(0, 30, (40, 3))
    pred_zyx = true_zyx[:35] + rng.normal(0, 1.0, (35, 3))
    pred_zyx = np.concatenate([pred_zyx, rng.uniform(0, 30, (10, 3))])
    result = match_centroids(true_zyx, pred_zyx, radius=3.28, spacing=(2.0, 1.0, 1.0))
    scaled = lambda p: p * np.array([2.0, 1.0, 1.0])  # noqa: E731
    distances = np.linalg.norm(scaled(true_zyx)[result.true_index] - scaled(pred_zyx)[result.pred_index], axis=1)
    np.testing.assert_allclose(result.distances, distances)
    assert np.all(distances <= 3.28)
    assert len(set(result.true_index.tolist())) == result.tp == len(set(result.pred_index.tolist()))
    assert result.tp + result.fn == 40 and result.tp + result.fp == 45


@pytest.mark.parametrize(
    "kwargs",
    [{"spacing": (1.0, 1.0)}, {"spacing": (1.0, 0.0, 1.0)}, {"radius": -1.0}],
)
def test_bad_arguments_raise(kwargs):
    args = {"radius": 3.0, **kwargs}
    with pytest.raises(ValueError):
        match_centroids(np.zeros((2, 3)), np.ones((2, 3)), **args)


def test_mismatched_dimensions_raise():
    with pytest.raises(ValueError, match="coordinates per point"):
        match_centroids(np.zeros((2, 3)), np.ones((2, 2)), radius=1.0)


def test_instance_centroids():
    labels = np.zeros((6, 8), dtype=int)
    labels[0:2, 0:2] = 7
    labels[3:6, 4:8] = 2
    ids, centres = instance_centroids(labels)
    assert ids.tolist() == [2, 7]
    np.testing.assert_allclose(centres, [[4.0, 5.5], [0.5, 0.5]])
    ids, centres = instance_centroids(np.zeros((3, 3, 3), dtype=int))
    assert ids.size == 0 and centres.shape == (0, 3)
