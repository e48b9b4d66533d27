"""crop_sampling_weights: image area relative to the crop, raised to a power, from the image files."""

from __future__ import annotations

import numpy as np
import pytest

from cellbundles.data import crop_sampling_weights
from cellbundles.io import write_image


@pytest.fixture
def items(tmp_path):
    """A grey 256 x 256, an RGBA 512 x 512 and a grey 128 x 128 (smaller than the crop) PNG."""
    shapes = {"grey": (256, 256), "rgba": (512, 512, 4), "small": (128, 128)}
    entries = []
    for name, shape in shapes.items():
        path = tmp_path / f"{name}.png"
        write_image(path, np.zeros(shape, np.uint8))
        entries.append({"image": str(path)})
    return entries


def test_weights_follow_area_power(items):
    assert crop_sampling_weights(items, (256, 256), power=1.0) == pytest.approx([1.0, 4.0, 1.0])
    assert crop_sampling_weights(items, (256, 256), power=0.5) == pytest.approx([1.0, 2.0, 1.0])
    assert crop_sampling_weights(items, (256, 256), power=0.0) == pytest.approx([1.0, 1.0, 1.0])


def test_power_out_of_range_is_refused(items):
    with pytest.raises(ValueError, match="power"):
        crop_sampling_weights(items, (256, 256), power=2.0)
