"""Normalised distance targets and the distance-seeded watershed (cellbundles.postprocess.distance)."""

from __future__ import annotations

import numpy as np
import pytest

from cellbundles.postprocess import instances_from_binary, instances_from_distance, normalised_distance


def _touching_discs(radius: int = 8) -> np.ndarray:
    """Two discs of one radius whose outlines touch along a short neck, labelled 1 and 2."""
    yy, xx = np.mgrid[:40, :60]
    labels = np.zeros((40, 60), np.int32)
    labels[(yy - 20) ** 2 + (xx - 20) ** 2 <= radius**2] = 1
    labels[((yy - 20) ** 2 + (xx - 20 - 2 * radius + 1) ** 2 <= radius**2) & (labels == 0)] = 2
    return labels


def test_normalised_distance_known_values():
    labels = np.zeros((7, 9), np.int32)
    labels[1:6, 1:4] = 1  # a 5 x 3 rectangle: distances 1 at its rim, 2 along its middle column
    labels[2:5, 5:8] = 2  # a 3 x 3 square: distance 2 at its centre
    distance = normalised_distance(labels)
    assert distance[0].max() == 0 and distance[labels == 0].max() == 0
    assert distance[3, 2] == pytest.approx(1.0) and distance[1, 1] == pytest.approx(0.5)
    assert distance[3, 6] == pytest.approx(1.0) and distance[2, 5] == pytest.approx(0.5)
    assert distance.dtype == np.float32


def test_touching_objects_get_separate_maxima():
    labels = _touching_discs()
    distance = normalised_distance(labels)
    boundary = (labels == 1) & np.roll(labels == 2, -1, axis=1)
    assert boundary.any() and distance[boundary].max() <= 1.0 / 8 + 1e-6
    for index in (1, 2):
        assert distance[labels == index].max() == pytest.approx(1.0)


def test_distance_watershed_splits_what_components_merge():
    labels = _touching_discs()
    foreground = (labels > 0).astype(np.float32)
    distance = normalised_distance(labels)
    assert instances_from_binary(foreground, 0.5).max() == 1
    instances = instances_from_distance(foreground, distance)
    assert instances.max() == 2
    for index in (1, 2):
        overlap = np.bincount(instances[labels == index])
        assert overlap.argmax() > 0 and overlap.max() >= 0.95 * (labels == index).sum()


def test_unseeded_dim_object_is_kept_and_small_ones_removed():
    foreground = np.zeros((30, 30), np.float32)
    foreground[5:15, 5:15] = 0.9
    foreground[20:26, 20:26] = 0.8  # a dim nucleus whose predicted distance never reaches the seed level
    foreground[0:2, 28:30] = 0.9  # a 4-pixel speck
    distance = np.zeros_like(foreground)
    distance[7:13, 7:13] = 0.8
    distance[20:26, 20:26] = 0.2
    instances = instances_from_distance(foreground, distance, min_size=10)
    assert instances.max() == 2
    assert instances[10, 10] != instances[22, 22] and instances[22, 22] > 0 and instances[0, 29] == 0


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="one shape"):
        instances_from_distance(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="NaN"):
        instances_from_distance(np.full((4, 4), np.nan), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="non-negative integers"):
        normalised_distance(np.full((3, 3), 0.5))
