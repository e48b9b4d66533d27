"""Per-image weights for drawing random training crops from images of very different sizes.

With one crop per image and epoch, a 1024 x 1024 field is seen 16 times less per pixel than a
256 x 256 one: in DSB2018 stage1_train the 12 large brightfield fields get 2 % of the crops. Weighting
each image by ``(area / crop area) ** power`` moves between one crop per image (``power`` 0) and
crops drawn uniformly over the whole pool's area (``power`` 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cellbundles.io import decode_image

__all__ = ["crop_sampling_weights"]


def crop_sampling_weights(
    items: Sequence[Mapping], patch_size: Sequence[int], power: float = 0.5, image_key: str = "image"
) -> list[float]:
    """``(spatial size / patch size) ** power`` for every datalist item, at least 1 crop per image.

    Args:
        items: datalist entries whose ``image_key`` is an image path.
        patch_size: the training crop, (y, x) or (z, y, x).
        power: 0 for equal weights, 1 for weights proportional to the image area.
    """
    if not 0.0 <= power <= 1.0:
        raise ValueError(f"crop sampling power must be in [0, 1], got {power}")
    patch_area = float(np.prod(patch_size))
    weights = []
    for item in items:
        decoded = decode_image(item[image_key])
        spatial = decoded.array.shape[:-1] if decoded.rgb else decoded.array.shape
        weights.append(max(float(np.prod(spatial)) / patch_area, 1.0) ** power)
    return weights

