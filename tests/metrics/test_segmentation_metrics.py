from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.metrics import compute_hausdorff_distance
from scipy import ndimage
from skimage.metrics import adapted_rand_error
from sklearn.metrics import f1_score, jaccard_score, precision_score, recall_score

from cellbundles.metrics import dice, hausdorff, pixel_scores, rand_error


def _random_labels(rng, shape, n):
    seeds = np.zeros(shape, dtype=np.int32)
    seeds[tuple(rng.integers(0, s, n) for s in shape)] = np.arange(1, n + 1)
    distance, (indices) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    labels = seeds[tuple(indices)]
    labels[distance > 4] = 0
    return labels


def test_dice_known_values():
    a = np.zeros((10, 10), dtype=int)
    b = np.zeros_like(a)
    a[0:4, 0:5] = 3  # 20 pixels
    b[0:4, 3:8] = 1  # 20 pixels, 8 shared
    assert dice(a, b) == pytest.approx(16 / 40)
    assert dice(a, a) == 1.0
    assert dice(a, np.zeros_like(a)) == 0.0
    assert dice(np.zeros_like(a), np.zeros_like(a)) == 1.0


def test_hausdorff_known_value_with_spacing():
    a = np.zeros((12, 20), dtype=np.uint8)
    b = np.zeros_like(a)
    a[2:5, 2:5] = 1
    b[2:5, 10:13] = 1  # same square 8 columns to the right
    result = hausdorff(a, b, spacing=(1.0, 0.5))
    assert result.hd == pytest.approx(4.0)  # 8 columns of 0.5
    assert result.hd95 <= result.hd
    identical = hausdorff(a, a)
    assert identical.hd == 0.0 and identical.hd95 == 0.0
    assert math.isinf(hausdorff(a, np.zeros_like(a)).hd)
    assert hausdorff(np.zeros_like(a), np.zeros_like(a)).hd == 0.0


@pytest.mark.filterwarnings("ignore:.*always_return_as_numpy")
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.0, 0.5, 0.7)])
def test_hausdorff_agrees_with_monai(spacing):
    rng = np.random.default_rng(0)
    a = _random_labels(rng, (12, 30, 28), 6) > 0
    b = ndimage.binary_dilation(_random_labels(rng, (12, 30, 28), 6) > 0)
    ours = hausdorff(a, b, spacing=spacing)
    as_batch = lambda m: torch.as_tensor(m[None, None].astype(np.float32))  # noqa: E731
    for percentile, value in ((None, ours.hd), (95, ours.hd95)):
        reference = compute_hausdorff_distance(
            as_batch(b), as_batch(a), include_background=True, percentile=percentile, spacing=list(spacing)
        )
        assert value == pytest.approx(float(reference), rel=1e-6)


def test_rand_error_agrees_with_scikit_image():
    rng = np.random.default_rng(1)
    for shape in [(40, 40), (8, 24, 24)]:
        y_true = _random_labels(rng, shape, 9) * 3
        y_pred = _random_labels(rng, shape, 12) + 100 * (_random_labels(rng, shape, 12) > 0)
        expected = adapted_rand_error(y_true, y_pred)[0]
        assert rand_error(y_true, y_pred) == pytest.approx(expected, abs=1e-12)


def test_rand_error_limits():
    labels = _random_labels(np.random.default_rng(2), (30, 30), 5)
    assert rand_error(labels, labels) == pytest.approx(0.0)
    assert rand_error(labels, labels * 7 + 1) == pytest.approx(0.0)  # renaming segments changes nothing
    merged = (labels > 0).astype(int)
    assert rand_error(labels, merged) == pytest.approx(adapted_rand_error(labels, merged)[0])
    assert rand_error(np.zeros((4, 4), int), np.zeros((4, 4), int)) == 0.0


def test_pixel_scores_known_values_2d():
    a = np.zeros((10, 10), dtype=int)
    b = np.zeros_like(a)
    a[0:4, 0:5] = 3  # 20 pixels
    a[6:8, 6:8] = 5  # 4 pixels, missed by the prediction
    b[0:4, 3:5] = 1  # two predicted instances covering 20 pixels, 8 of them shared with a
    b[0:4, 5:8] = 9
    expected = {"iou": 8 / 36, "precision": 8 / 20, "recall": 8 / 24, "f1": 16 / 44}
    scores = pixel_scores(a, b)
    assert set(scores) == {"iou", "precision", "recall", "f1"}
    for name, value in expected.items():
        assert scores[name] == pytest.approx(value, abs=1e-15), name
    # instance ids do not matter, only labels > 0: relabelled and binary images give the same scores
    for y_true, y_pred in ((a * 7 + (a > 0), b + 100 * (b > 0)), (a > 0, b > 0), (a > 0, (b > 0).astype(np.uint8))):
        assert pixel_scores(y_true, y_pred) == pytest.approx(expected, abs=1e-15)
    assert pixel_scores(a, b)["f1"] == pytest.approx(dice(a, b), abs=1e-15)
    swapped = pixel_scores(b, a)  # swapping truth and prediction swaps precision and recall
    assert swapped["precision"] == pytest.approx(8 / 24) and swapped["recall"] == pytest.approx(8 / 20)
    assert pixel_scores(a, a) == {"iou": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_pixel_scores_known_values_3d():
    y_true = np.zeros((4, 6, 6), dtype=np.int32)
    y_pred = np.zeros_like(y_true)
    y_true[0:2, 0:3, 0:3] = 1  # 18 voxels
    y_true[2:4, 3:6, 3:6] = 2  # 18 voxels
    y_pred[1:3, 0:3, 0:3] = 40  # 18 voxels, 9 inside the first true box
    y_pred[2:4, 3:6, 4:6] = 7  # 12 voxels, all inside the second true box
    y_pred[0, 5, 0:2] = 3  # 2 voxels of pure false positive
    # tp = 21, |true| = 36, |pred| = 32, union = 47
    scores = pixel_scores(y_true, y_pred)
    assert scores["iou"] == pytest.approx(21 / 47, abs=1e-15)
    assert scores["precision"] == pytest.approx(21 / 32, abs=1e-15)
    assert scores["recall"] == pytest.approx(21 / 36, abs=1e-15)
    assert scores["f1"] == pytest.approx(42 / 68, abs=1e-15)
    assert pixel_scores(y_true > 0, y_pred > 0) == pytest.approx(scores, abs=1e-15)
    assert pixel_scores(y_true * 1000, y_pred + 1 * (y_pred > 0)) == pytest.approx(scores, abs=1e-15)


@pytest.mark.parametrize("shape", [(40, 40), (64, 48), (8, 24, 24), (12, 20, 16)])
def test_pixel_scores_agree_with_scikit_learn(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(3):
        y_true = _random_labels(rng, shape, 9) * 3
        y_pred = _random_labels(rng, shape, 12) + 100 * (_random_labels(rng, shape, 12) > 0)
        t, p = (y_true > 0).ravel(), (y_pred > 0).ravel()
        assert 0 < np.count_nonzero(t & p) < min(np.count_nonzero(t), np.count_nonzero(p))
        scores = pixel_scores(y_true, y_pred)
        assert scores["iou"] == pytest.approx(jaccard_score(t, p), abs=1e-12)
        assert scores["precision"] == pytest.approx(precision_score(t, p), abs=1e-12)
        assert scores["recall"] == pytest.approx(recall_score(t, p), abs=1e-12)
        assert scores["f1"] == pytest.approx(f1_score(t, p), abs=1e-12)


@pytest.mark.parametrize("shape", [(6, 7), (3, 5, 4)])
def test_pixel_scores_edge_cases(shape):
    empty = np.zeros(shape, dtype=np.int64)
    labels = np.zeros(shape, dtype=np.int64)
    labels[(0,) * len(shape)] = 4
    labels[(1,) * len(shape)] = 9
    assert pixel_scores(empty, empty) == {"iou": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert pixel_scores(labels, empty) == {"iou": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert pixel_scores(empty, labels) == {"iou": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    disjoint = np.roll(labels, 3, axis=-1)
    assert pixel_scores(labels, disjoint) == {"iou": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    with pytest.raises(ValueError, match="shape"):
        pixel_scores(empty, np.zeros(shape[:-1] + (shape[-1] + 1,), dtype=np.int64))
    with pytest.raises(ValueError, match="shape"):
        pixel_scores(empty, empty[None])
