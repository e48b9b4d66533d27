"""InstancesToDistanceTarget(d) and InstancesFromDistanced: the 2D foreground + distance head's data path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from scipy import ndimage

from cellbundles.postprocess import normalised_distance
from cellbundles.transforms import (
    InstancesFromDistanced,
    InstancesToDistanceTarget,
    InstancesToDistanceTargetd,
    NormalisedDistanced,
    SplitSegDetOutputd,
    contact_pixels,
)


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


def test_target_gap_between_touching_nuclei():
    labels = _labels()
    target = InstancesToDistanceTargetd("label", gap_width=1)({"label": labels})["label"]
    seam = contact_pixels(labels[0], 1)
    # the two discs (centres x 14 and 27) touch along a short vertical seam at x 21 / 22, one pixel on each side
    assert set(np.unique(labels[0][seam])) == {1, 2} and set(np.nonzero(seam)[1]) <= {20, 21, 22, 23}
    np.testing.assert_array_equal(target[0], ((labels[0] > 0) & ~seam).astype(np.float32))
    np.testing.assert_allclose(target[1], normalised_distance(labels[0]))
    # the gap splits the foreground into the two nuclei
    assert ndimage.label(target[0])[1] == 2 and ndimage.label(labels[0] > 0)[1] == 1


def test_normalised_distance_is_physical_on_an_anisotropic_grid():
    """A 7-voxel cube: the voxel one step above the centre is 3 voxels from the top face but, at a z step twice
    the xy step, 6 um away, farther than the 4 um to the sides, so it is as deep as the centre."""
    labels = np.zeros((1, 9, 9, 9), np.int32)
    labels[0, 1:8, 1:8, 1:8] = 1
    in_voxels = NormalisedDistanced("label")({"label": MetaTensor(torch.as_tensor(labels))})["distance"]
    physical = NormalisedDistanced("label", spacing=(2.0, 1.0, 1.0))({"label": labels})["distance"]
    assert isinstance(in_voxels, MetaTensor) and in_voxels.shape == (1, 9, 9, 9)
    assert in_voxels[0, 4, 4, 4] == 1.0 and in_voxels[0, 5, 4, 4] == pytest.approx(0.75)
    assert physical[0, 4, 4, 4] == 1.0 and physical[0, 5, 4, 4] == pytest.approx(1.0)
    np.testing.assert_allclose(physical[0], normalised_distance(labels[0], spacing=(2.0, 1.0, 1.0)))
    with pytest.raises(ValueError, match="spacing"):
        NormalisedDistanced("label")({"label": labels})


def test_split_segdet_output_gives_the_distance_as_a_probability():
    output = torch.randn(4, 6, 8, 8)
    d = SplitSegDetOutputd("pred", distance_keys="distance")({"pred": output})
    torch.testing.assert_close(d["distance"], torch.sigmoid(output[3:]))
    torch.testing.assert_close(d["density"], output[2:3])
    assert "distance" not in SplitSegDetOutputd("pred")({"pred": output[:3]})


def test_contact_pixels_ignore_background_edges():
    labels = np.zeros((7, 11), np.int32)
    labels[1:6, 1:4] = 1
    labels[1:6, 4:7] = 3
    labels[3, 10] = 2  # isolated object next to the image edge: no contact
    expected = np.zeros_like(labels, bool)
    expected[1:6, 3:5] = True
    np.testing.assert_array_equal(contact_pixels(labels, 1), expected)
    assert not contact_pixels(labels, 0).any()
    wide = contact_pixels(labels, 2)
    assert wide[1:6, 2:6].all() and wide.sum() == 20
    with pytest.raises(ValueError, match="width"):
        contact_pixels(labels, -1)


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


def test_grow_gives_back_the_seam():
    labels = _labels()
    gapped = labels * ~contact_pixels(labels[0], 1)[None]
    logits = _logits(gapped)
    plain = InstancesFromDistanced("pred", method="components")({"pred": logits})["instances"][0].numpy()
    grown = InstancesFromDistanced("pred", method="components", grow=1)({"pred": logits})["instances"][0].numpy()
    assert plain.max() == grown.max() == 2
    assert ((plain > 0) == (gapped[0] > 0)).all()
    # growing by the gap width fills the seam again, nearly every pixel with its own nucleus (where the seam
    # bends it is wider than two pixels, and ties may go either way), and adds a 1-pixel rim outside
    inside = labels[0] > 0
    assert (gapped[0][inside] == 0).sum() >= 15
    assert (grown[inside] > 0).mean() > 0.98 and (grown[inside] == labels[0][inside]).mean() > 0.98
    rim = (grown > 0) & ~inside
    assert rim.any() and (ndimage.binary_dilation(inside) >= rim).all()
    # with a threshold the instances grow only where the network still sees some nucleus: into the seam
    seam = (labels[0] > 0) & (gapped[0] == 0)
    logits[1][torch.as_tensor(seam)] = logits[0][torch.as_tensor(seam)] - 1.0  # foreground probability 0.27
    gated = InstancesFromDistanced("pred", method="components", grow=1, grow_threshold=0.1)({"pred": logits})
    gated = gated["instances"][0].numpy()
    assert (gated[inside] > 0).mean() > 0.98 and not (gated[~inside] > 0).any()
    with pytest.raises(ValueError, match="grow"):
        InstancesFromDistanced("pred", grow=-1)


def test_wrong_channel_count_and_method():
    with pytest.raises(ValueError, match="3, \\[D,\\] H, W"):
        InstancesFromDistanced("pred")({"pred": torch.zeros(2, 8, 8)})
    with pytest.raises(ValueError, match="method"):
        InstancesFromDistanced("pred", method="argmax")
