from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from scipy import ndimage

from cellbundles.io import read_labels
from cellbundles.transforms import BorderWeightMap, BorderWeightMapd, border_weight_map, class_balance_weights

SAMPLES = "data/samples/stardist_testdata"


def brute_force_weights(labels: np.ndarray, w0: float, sigma: float) -> np.ndarray:
    """Reference: full-volume distance transform to every object, two smallest per voxel."""
    ids = [i for i in np.unique(labels) if i > 0]
    distances = np.sort(np.stack([ndimage.distance_transform_edt(labels != i) for i in ids]), axis=0)
    border = w0 * np.exp(-((distances[0] + distances[1]) ** 2) / (2 * sigma**2))
    return class_balance_weights(labels > 0) + border


def two_touching_boxes(shape=(12, 40, 60)):
    labels = np.zeros(shape, dtype=np.int32)
    labels[3:9, 10:30, 5:20] = 1
    labels[3:9, 10:30, 20:35] = 2
    return labels


def test_weights_peak_at_the_interface_of_touching_objects():
    labels = two_touching_boxes()
    weights = border_weight_map(labels, w0=10.0, sigma=5.0)
    w_c = class_balance_weights(labels > 0)
    border = weights - w_c
    peak = np.unravel_index(np.argmax(border), border.shape)
    assert peak[2] in (19, 20)
    assert border[peak] == pytest.approx(10.0 * np.exp(-1 / 50), rel=1e-6)
    # far from the pair (more than truncate * sigma = 20 voxels from the second object) only w_c remains
    assert weights[6, 20, 59] == w_c[6, 20, 59]
    assert np.array_equal(weights[:, :, 56:], w_c[:, :, 56:])


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_windowed_computation_matches_brute_force(spatial_dims):
    rng = np.random.default_rng(spatial_dims)
    shape = (24, 26, 22)[:spatial_dims]
    labels = np.zeros(shape, dtype=np.int32)
    for index in range(1, 6):
        start = rng.integers(0, np.array(shape) - 6)
        labels[tuple(slice(s, s + rng.integers(3, 7)) for s in start)] = index
    expected = brute_force_weights(labels, 10.0, 3.0)
    exact = border_weight_map(labels, w0=10.0, sigma=3.0, truncate=100.0)
    np.testing.assert_allclose(exact, expected, rtol=1e-5, atol=1e-5)
    windowed = border_weight_map(labels, w0=10.0, sigma=3.0)
    np.testing.assert_allclose(windowed, expected, atol=10.0 * np.exp(-8) + 1e-5)


def test_class_balance_weights_average_to_one():
    foreground = np.zeros((10, 10), dtype=bool)
    foreground[:2] = True
    weights = class_balance_weights(foreground)
    assert weights.mean() == pytest.approx(1.0)
    assert weights[0, 0] * 20 == pytest.approx(weights[9, 9] * 80)
    assert np.array_equal(class_balance_weights(np.zeros((4, 4), dtype=bool)), np.ones((4, 4)))


def test_single_object_has_no_border_term_and_balance_can_be_off():
    labels = np.zeros((16, 16), dtype=np.int32)
    labels[4:8, 4:8] = 1
    assert np.array_equal(border_weight_map(labels, class_balance=False), np.ones((16, 16)))


def test_array_transform_keeps_type_and_metadata():
    labels = MetaTensor(torch.from_numpy(two_touching_boxes()[None]), affine=torch.diag(torch.tensor([2.0, 1, 1, 1])))
    weights = BorderWeightMap()(labels)
    assert isinstance(weights, MetaTensor) and weights.dtype == torch.float32
    assert weights.shape == labels.shape
    torch.testing.assert_close(weights.affine, labels.affine)


def test_dictionary_version_skips_samples_without_labels():
    transform = BorderWeightMapd(keys="label", weight_keys="weight", allow_missing_keys=True)
    out = transform({"label": two_touching_boxes()[None].astype(np.float32)})
    assert out["weight"].shape == (1, 12, 40, 60) and out["weight"].max() > 10
    assert "weight" not in transform({"image": np.zeros((1, 4, 4))})


@pytest.mark.parametrize("bad", [np.full((1, 4, 4), -1), np.full((1, 4, 4), 0.5), np.zeros((2, 4, 4))])
def test_bad_labels_raise(bad):
    with pytest.raises(ValueError):
        BorderWeightMap()(bad)


def test_real_stardist_labels_weight_touching_nuclei():
    labels, _ = read_labels(f"{SAMPLES}/mask3d.tif")
    weights = border_weight_map(labels, w0=10.0, sigma=5.0)
    border = weights - class_balance_weights(labels > 0)
    assert weights.shape == labels.shape and np.isfinite(weights).all()
    # voxels of one nucleus that touch another nucleus carry almost the full border weight
    smallest_object_around = ndimage.grey_erosion(np.where(labels > 0, labels, labels.max() + 1), size=3)
    touching = (labels > 0) & (ndimage.grey_dilation(labels, size=3) != smallest_object_around)
    assert touching.any()
    assert border[touching].max() > 9.0
