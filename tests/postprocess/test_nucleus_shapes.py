"""Shape classes per nucleus (seed 001): :func:`cellbundles.postprocess.nucleus_shapes` and its transform."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cellbundles.postprocess import nucleus_shapes
from cellbundles.transforms import NucleusShapesd


def _labels_and_shape() -> tuple[np.ndarray, np.ndarray]:
    labels = np.zeros((10, 20, 20), np.int32)
    labels[2:6, 2:8, 2:8] = 3  # a cube: round
    labels[2:4, 10:19, 10:12] = 5  # a rod: elongated
    shape = np.zeros(labels.shape, np.float32)
    shape[labels == 3], shape[labels == 5] = 0.9, 0.3
    shape[2, 2, 2] = 0.6  # one voxel lowers the cube's mean
    return labels, shape


def test_nucleus_shapes_gives_centroids_mean_values_and_classes():
    labels, shape = _labels_and_shape()
    result = nucleus_shapes(labels, shape, threshold=0.7)
    np.testing.assert_array_equal(result["ids"], [3, 5])
    np.testing.assert_allclose(result["centroids"], [[3.5, 4.5, 4.5], [2.5, 14.0, 10.5]])
    np.testing.assert_allclose(result["shape_score"], [(143 * 0.9 + 0.6) / 144, 0.3], rtol=1e-6)
    assert result["shape_class"].tolist() == ["round", "elongated"]
    assert nucleus_shapes(labels, shape, threshold=0.95)["shape_class"].tolist() == ["elongated", "elongated"]


def test_nucleus_shapes_of_an_empty_volume_and_of_mismatched_arrays():
    empty = nucleus_shapes(np.zeros((4, 5, 6), np.int32), np.zeros((4, 5, 6)))
    assert empty["centroids"].shape == (0, 3) and empty["shape_class"].shape == (0,)
    with pytest.raises(ValueError, match="differ in shape"):
        nucleus_shapes(np.zeros((4, 5, 6), np.int32), np.zeros((4, 5, 7)))


def test_nucleus_shapes_transform_adds_the_contours_with_their_labels():
    labels, shape = _labels_and_shape()
    d = NucleusShapesd(keys="instances", shape_key="shape")({"instances": torch.from_numpy(labels[None]), "shape": shape[None]})
    assert d["shape_class"].tolist() == ["round", "elongated"] and d["instance_id"].tolist() == [3, 5]
    contours = d["contours"][0].numpy()
    assert contours.dtype == np.int32 and set(np.unique(contours)) == {0, 3, 5}
    assert contours[2, 4, 4] == 3 and contours[3, 4, 4] == 0  # a face voxel of the cube, then one inside it
