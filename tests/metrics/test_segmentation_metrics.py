from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.metrics import compute_hausdorff_distance
from scipy import ndimage
from skimage.metrics import adapted_rand_error

from cellbundles.metrics import dice, hausdorff, rand_error


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
