"""InstancesToDistanceTarget(d) and InstancesFromDistanced: the 2D foreground + distance head's data path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from cellbundles.postprocess import normalised_distance
from cellbundles.transforms import InstancesFromDistanced, InstancesToDistanceTarget, InstancesToDistanceTargetd


def _labels() -> np.ndarray:
    labels = np.zeros((1, 32, 48), np.int32)
    yy, xx = np.mgrid[:32, :48]
    labels[0][(yy - 16) ** 2 + (xx - 14) ** 2 <= 49] = 1
    labels[0][((yy - 16) ** 2 + (xx - 27) ** 2 <= 49) & (labels[0] == 0)] = 2
    return labels


def test_target_channels():
    labels = _labels()
    target = InstancesToDistanceTarget()(MetaTensor(torch.as_tensor(labels).float()))
    assert isinstance(target, MetaTensor) and tuple(target.shape) == (2, 32, 48)
    np.testing.assert_array_equal(target[0].numpy(), (labels[0] > 0).astype(np.float32))
    np.testing.assert_allclose(target[1].numpy(), normalised_distance(labels[0]))
    d = InstancesToDistanceTargetd("label")({"label": labels})
    assert d["label"].shape == (2, 32, 48)
    with pytest.raises(ValueError, match=r"\(1, \[D,\] H, W\)"):
        InstancesToDistanceTarget()(np.zeros((2, 4, 4), np.int32))


def _logits(labels: np.ndarray) -> torch.Tensor:
    """Confident logits that reproduce ``labels``' foreground and normalised distance."""
    foreground = torch.as_tensor(labels[0] > 0).float()
    distance = torch.as_tensor(normalised_distance(labels[0])).clamp(1e-4, 1 - 1e-4)
    return torch.stack([5 * (1 - 2 * foreground), 5 * (2 * foreground - 1), torch.logit(distance)])


@pytest.mark.parametrize("method, expected", [("distance", 2), ("split", 2), ("components", 1)])
def test_instances_from_logits(method, expected):
    labels = _labels()
    logits = MetaTensor(_logits(labels))
    out = InstancesFromDistanced("pred", method=method)({"pred": logits})
    instances = out["instances"]
    assert isinstance(instances, MetaTensor) and tuple(instances.shape) == (1, 32, 48)
    assert int(instances.max()) == expected
    assert ((instances[0] > 0).numpy() == (labels[0] > 0)).mean() > 0.98


def test_wrong_channel_count_and_method():
    with pytest.raises(ValueError, match="3, \\[D,\\] H, W"):
        InstancesFromDistanced("pred")({"pred": torch.zeros(2, 8, 8)})
    with pytest.raises(ValueError, match="method"):
        InstancesFromDistanced("pred", method="argmax")
