"""Helpers of the MONAI Label infer task (the task itself runs in the bundle tests and tests/label/test_server.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("monailabel")

from cellbundles.label import instance_label_array, label_suffix, monai_label_centroids  # noqa: E402


def test_label_suffix_follows_the_image_format():
    assert label_suffix("a/b.png") == ".png"
    assert label_suffix("a/b.nii.gz") == ".nii.gz"
    assert label_suffix("a/b.ome.tif") == ".tif"
    with pytest.raises(ValueError):
        label_suffix("a/b.jpg")


def test_instance_label_array_drops_channel_axes_and_checks_dimensions():
    pred = torch.zeros((1, 1, 4, 5), dtype=torch.int32)
    pred[0, 0, 1, 2] = 70000
    label = instance_label_array(pred, "x.tif", 2)
    assert label.shape == (4, 5) and label.dtype == np.uint32 and label[1, 2] == 70000
    assert instance_label_array(np.ones((3, 4, 5)), "x.tif", 3).dtype == np.uint16
    with pytest.raises(ValueError, match=r"x.tif: the bundle returned a label of shape \(3, 4, 5\), not 2D"):
        instance_label_array(np.ones((3, 4, 5)), "x.tif", 2)


def test_monai_label_centroids_are_named_and_in_x_y_z_order():
    points = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # (z, y, x)
    assert monai_label_centroids(points) == [{"nucleus_1": [3.0, 2.0, 1.0]}, {"nucleus_2": [6.0, 5.0, 4.0]}]
    assert monai_label_centroids(torch.tensor([[7.0, 8.0]])) == [{"nucleus_1": [8.0, 7.0]}]
    assert monai_label_centroids(np.zeros((0, 2))) == []
