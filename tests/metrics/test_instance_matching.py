from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from cellbundles.metrics import dsb_score, match_instances, match_instances_dataset, object_overlap_prf

RATIOS = ("precision", "recall", "f1", "accuracy", "mean_matched_score", "mean_true_score", "panoptic_quality")


def _square_pair(shift=5):
    y_true = np.zeros((32, 32), dtype=np.uint16)
    y_pred = np.zeros_like(y_true)
    y_true[5:15, 5:15] = 1
    y_pred[5:15, 5 + shift : 15 + shift] = 1
    return y_true, y_pred


def _reference(y_true, y_pred, thresh, criterion="iou"):
    """Dense IoU matrix from object masks, exact Hungarian on the full matrix: (tp, sum of matched scores)."""
    true_ids = np.unique(y_true[y_true > 0])
    pred_ids = np.unique(y_pred[y_pred > 0])
    score = np.zeros((true_ids.size, pred_ids.size))
    for i, t in enumerate(true_ids):
        for j, p in enumerate(pred_ids):
            inter = np.count_nonzero((y_true == t) & (y_pred == p))
            union = (y_true == t) | (y_pred == p) if criterion == "iou" else y_true == t
            denom = np.count_nonzero(union)
            score[i, j] = inter / denom
    value = np.where((score >= thresh) & (score > 0), min(score.shape) + 1 + score, 0.0)
    rows, cols = linear_sum_assignment(value, maximize=True)
    keep = value[rows, cols] > 0
    return int(keep.sum()), float(score[rows, cols][keep].sum())


def _blobs(rng, shape, n):
    """Random overlapping rectangles painted in turn: objects of varied size and shared borders."""
    labels = np.zeros(shape, dtype=np.int32)
    ids = rng.choice(10_000, size=n, replace=False) + 1
    for label in ids:
        lo = [rng.integers(0, s - 2) for s in shape]
        hi = [min(s, a + rng.integers(2, max(3, s // 3))) for a, s in zip(lo, shape)]
        labels[tuple(slice(a, b) for a, b in zip(lo, hi))] = label
    return labels


def test_shifted_square_has_iou_one_third():
    y_true, y_pred = _square_pair()
    result = match_instances(y_true, y_pred, thresh=0.5)
    assert (result.tp, result.fp, result.fn) == (0, 1, 1)
    assert result.f1 == 0.0 and result.panoptic_quality == 0.0
    low = match_instances(y_true, y_pred, thresh=0.3)
    assert (low.tp, low.fp, low.fn) == (1, 0, 0)
    assert low.mean_matched_score == pytest.approx(1 / 3)
    assert low.panoptic_quality == pytest.approx(1 / 3)
    assert dsb_score(y_true, y_pred) == 0.0


@pytest.mark.parametrize("criterion", ["iou", "iot"])
def test_identical_images_score_one(criterion):
    y_true = _blobs(np.random.default_rng(3), (40, 50), 12)
    result = match_instances(y_true, y_true.copy(), thresh=0.5, criterion=criterion)
    n = np.unique(y_true[y_true > 0]).size
    assert (result.tp, result.fp, result.fn, result.n_true, result.n_pred) == (n, 0, 0, n, n)
    assert all(getattr(result, name) == pytest.approx(1.0) for name in RATIOS)
    assert dsb_score(y_true, y_true) == pytest.approx(1.0)


def test_empty_prediction_gives_zeros_without_warnings():
    y_true, _ = _square_pair()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = match_instances(y_true, np.zeros_like(y_true))
        empty_both = match_instances(np.zeros_like(y_true), np.zeros_like(y_true))
        score = dsb_score(y_true, np.zeros_like(y_true))
    assert (result.tp, result.fp, result.fn, result.n_pred) == (0, 0, 1, 0)
    assert all(getattr(result, name) == 0.0 for name in RATIOS)
    assert all(getattr(empty_both, name) == 0.0 for name in RATIOS)
    assert score == 0.0


def test_label_ids_need_not_be_consecutive():
    rng = np.random.default_rng(4)
    y_true, y_pred = _blobs(rng, (48, 48), 15), _blobs(rng, (48, 48), 15)
    consecutive = match_instances(np.unique(y_true, return_inverse=True)[1].reshape(y_true.shape), y_pred, 0.3)
    sparse_ids = match_instances(y_true.astype(np.int64) * 1_000_003, y_pred, 0.3)
    assert consecutive == sparse_ids


@pytest.mark.parametrize("thresh", [0.1, 0.3, 0.5, 0.7])
@pytest.mark.parametrize("criterion", ["iou", "iot"])
def test_agrees_with_dense_reference(thresh, criterion):
    rng = np.random.default_rng(int(thresh * 10))
    for shape in [(40, 40), (10, 16, 16)]:
        y_true, y_pred = _blobs(rng, shape, 14), _blobs(rng, shape, 16)
        result = match_instances(y_true, y_pred, thresh=thresh, criterion=criterion)
        tp, score_sum = _reference(y_true, y_pred, thresh, criterion)
        assert result.tp == tp
        assert result.mean_matched_score * result.tp == pytest.approx(score_sum)
        assert result.fp == result.n_pred - tp and result.fn == result.n_true - tp


def test_derived_scores_follow_their_definitions():
    rng = np.random.default_rng(7)
    y_true, y_pred = _blobs(rng, (50, 50), 20), _blobs(rng, (50, 50), 18)
    r = match_instances(y_true, y_pred, thresh=0.3)
    assert r.precision == pytest.approx(r.tp / (r.tp + r.fp))
    assert r.recall == pytest.approx(r.tp / (r.tp + r.fn))
    assert r.f1 == pytest.approx(2 * r.precision * r.recall / (r.precision + r.recall))
    assert r.accuracy == pytest.approx(r.tp / (r.tp + r.fp + r.fn))
    assert r.panoptic_quality == pytest.approx(r.mean_matched_score * r.f1)
    assert r.mean_true_score == pytest.approx(r.mean_matched_score * r.tp / r.n_true)


def test_iot_criterion_counts_coverage_of_the_true_object():
    y_true = np.zeros((20, 20), dtype=int)
    y_true[0:10, 0:10] = 1
    y_pred = np.zeros_like(y_true)
    y_pred[0:10, 0:6] = 4  # covers 60 % of the true object, IoU 0.6 too
    y_pred[0:10, 6:20] = 9  # covers 40 %
    assert match_instances(y_true, y_pred, 0.5, criterion="iot").tp == 1
    bigger = np.zeros_like(y_true)
    bigger[0:20, 0:12] = 3  # covers all of it: IoT 1.0 but IoU 100 / 240
    assert match_instances(y_true, bigger, 0.5, criterion="iot").tp == 1
    assert match_instances(y_true, bigger, 0.5, criterion="iou").tp == 0


def test_dataset_micro_and_by_image():
    y_true, y_pred = _square_pair(shift=0)
    empty = np.zeros_like(y_true)
    micro = match_instances_dataset([y_true, y_true], [y_pred, empty], thresh=0.5)
    assert (micro.tp, micro.fp, micro.fn, micro.n_true, micro.n_pred) == (1, 0, 1, 2, 1)
    assert micro.precision == 1.0 and micro.recall == 0.5 and micro.f1 == pytest.approx(2 / 3)
    by_image = match_instances_dataset([y_true, y_true], [y_pred, empty], thresh=0.5, by_image=True)
    assert (by_image.tp, by_image.fn) == (1, 1)
    assert by_image.precision == 0.5 and by_image.recall == 0.5 and by_image.f1 == 0.5
    with pytest.raises(ValueError, match="ground-truth images"):
        match_instances_dataset([y_true], [])


def test_dsb_score_known_value():
    y_true = np.zeros((30, 30), dtype=int)
    y_true[0:9, 0:9] = 3
    y_pred = np.zeros_like(y_true)
    y_pred[0:9, 0:7] = 8  # IoU 63 / 81 = 0.778: matched for t = 0.50 ... 0.75 (6 of 10 thresholds)
    assert dsb_score(y_true, y_pred) == pytest.approx(0.6)
    y_pred[20:25, 20:25] = 9  # one false positive: 1 / (1 + 1 + 0) at those thresholds, 0 / 2 above
    assert dsb_score(y_true, y_pred) == pytest.approx(0.3)


def test_object_overlap_prf_removes_small_predictions():
    y_true = np.zeros((20, 20, 20), dtype=int)
    y_true[0:5, 0:5, 0:5] = 1  # 125 voxels
    y_true[10:13, 10:13, 10:13] = 2  # 27 voxels, kept as ground truth
    y_pred = np.zeros_like(y_true)
    y_pred[0:5, 0:5, 0:3] = 5  # 75 voxels, covers 60 % of nucleus 1
    y_pred[10:13, 10:13, 10:13] = 6  # 27 voxels: removed before matching
    y_pred[15:19, 15:19, 15:19] = 7  # 64 voxels, a false positive
    result = object_overlap_prf(y_true, y_pred, min_overlap=0.5, min_size=50)
    assert (result.tp, result.fp, result.fn) == (1, 1, 1)
    assert result.criterion == "iot" and result.precision == 0.5 and result.recall == 0.5
    both = object_overlap_prf(y_true, y_pred, min_size=50, remove_small_true=True)
    assert (both.tp, both.fp, both.fn) == (1, 1, 0)


@pytest.mark.parametrize("kwargs", [{"thresh": 1.5}, {"criterion": "dice"}])
def test_bad_arguments_raise(kwargs):
    y_true, y_pred = _square_pair()
    with pytest.raises(ValueError):
        match_instances(y_true, y_pred, **kwargs)
