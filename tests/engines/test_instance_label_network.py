"""``InstanceLabelNetwork``: a torchvision detector as tensor in, tensor out (for ``verify_net_in_out``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from cellbundles.engines.detection import InstanceLabelNetwork


class _FixedDetections(nn.Module):
    """Stands in for a Mask R-CNN in evaluation mode: the same three detections for every image."""

    def forward(self, images):
        height, width = images[0].shape[-2:]
        masks = torch.zeros(3, 1, height, width)
        masks[0, 0, 0:4, 0:4] = 0.9  # score 0.6, partly under the best detection
        masks[1, 0, 2:6, 2:6] = 0.8  # score 0.9: the best, id 1
        masks[2, 0, 7:8, 7:8] = 0.7  # score 0.8, one pixel: removed by min_size 2
        scores = torch.tensor([0.6, 0.9, 0.8])
        boxes = torch.tensor([[0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 6.0, 6.0], [7.0, 7.0, 8.0, 8.0]])
        found = {"boxes": boxes, "labels": torch.ones(3, dtype=torch.int64), "scores": scores, "masks": masks}
        return [found] * len(images)


def test_detections_become_uint16_instance_labels_ranked_by_score():
    wrapper = InstanceLabelNetwork(_FixedDetections(), mask_threshold=0.5, min_score=0.5, min_size=2).eval()
    labels = wrapper(torch.rand(2, 2, 10, 12))
    assert labels.shape == (2, 1, 10, 12) and labels.dtype == torch.uint16
    expected = np.zeros((10, 12), dtype=np.uint16)
    expected[0:4, 0:4] = 2
    expected[2:6, 2:6] = 1  # the higher score keeps the overlap
    np.testing.assert_array_equal(labels[0, 0].numpy(), expected)
    np.testing.assert_array_equal(labels[1, 0].numpy(), expected)


def test_min_score_and_threshold_are_applied():
    labels = InstanceLabelNetwork(_FixedDetections(), mask_threshold=0.85, min_score=0.7)(torch.rand(1, 1, 10, 12))
    expected = np.zeros((10, 12), dtype=np.uint16)  # only detection 0 passes 0.85, but it scores under 0.7
    np.testing.assert_array_equal(labels[0, 0].numpy(), expected)


def test_refuses_a_single_image_without_batch_axis():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        InstanceLabelNetwork(_FixedDetections())(torch.rand(1, 10, 12))
