"""RandNucleusContrastd: per-nucleus dimming above the background, labels untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cellbundles.transforms import RandNucleusContrastd


def _two_nuclei():
    labels = np.zeros((1, 40, 40), np.int32)
    labels[0, 5:15, 5:15] = 1
    labels[0, 25:35, 25:35] = 2
    image = np.full((1, 40, 40), 0.1, np.float32)
    image[labels > 0] = 0.9
    return image, labels


def test_every_nucleus_dimmed_by_a_factor_in_range_background_kept():
    image, labels = _two_nuclei()
    transform = RandNucleusContrastd("image", prob=1.0, fraction=1.0, factor_range=(0.05, 0.2))
    transform.set_random_state(0)
    out = transform({"image": torch.as_tensor(image), "label": labels})
    result = out["image"].numpy()
    assert isinstance(out["image"], torch.Tensor)
    np.testing.assert_array_equal(out["label"], labels)
    np.testing.assert_allclose(result[labels == 0], 0.1, atol=1e-6)  # background unchanged
    for index in (1, 2):
        values = np.unique(np.round(result[labels == index], 6))
        assert len(values) == 1  # one factor per nucleus
        factor = (values[0] - 0.1) / 0.8
        assert 0.05 <= factor <= 0.2


def test_halo_pixels_dimmed_with_their_nucleus():
    image, labels = _two_nuclei()
    image[0, 15, 5:15] = 0.5  # blurred edge just outside nucleus 1
    transform = RandNucleusContrastd("image", prob=1.0, fraction=1.0, factor_range=(0.1, 0.1), halo=1.0)
    result = transform({"image": image, "label": labels})["image"]
    np.testing.assert_allclose(result[0, 15, 5:15], 0.1 + 0.4 * 0.1, rtol=1e-5)
    np.testing.assert_allclose(result[0, 16, 5:15], 0.1, rtol=1e-5)  # beyond the halo


def test_prob_zero_and_empty_labels_leave_the_image():
    image, labels = _two_nuclei()
    unchanged = RandNucleusContrastd("image", prob=0.0, fraction=1.0)({"image": image, "label": labels})
    np.testing.assert_array_equal(unchanged["image"], image)
    empty = RandNucleusContrastd("image", prob=1.0, fraction=1.0)({"image": image, "label": np.zeros_like(labels)})
    np.testing.assert_array_equal(empty["image"], image)


def test_fraction_dims_about_that_share_of_nuclei():
    labels = np.zeros((1, 200, 200), np.int32)
    for index in range(100):
        r, c = divmod(index, 10)
        labels[0, r * 20 + 5 : r * 20 + 15, c * 20 + 5 : c * 20 + 15] = index + 1
    image = np.where(labels > 0, 1.0, 0.0).astype(np.float32)
    transform = RandNucleusContrastd("image", prob=1.0, fraction=0.3, factor_range=(0.1, 0.5))
    transform.set_random_state(1)
    result = transform({"image": image, "label": labels})["image"]
    dimmed = sum(result[labels == index].max() < 0.99 for index in range(1, 101))
    assert 15 <= dimmed <= 45


def test_bad_factor_range():
    with pytest.raises(ValueError, match="factor_range"):
        RandNucleusContrastd("image", factor_range=(0.0, 1.0))
