"""Seed 004's post-processing rules on predicted cells, as a switchable dictionary transform.

Reference:
    Korfhage N et al., PLoS Comput Biol 16(9): e1008179, 2020, section "Post-processing"
    (:mod:`cellbundles.postprocess.cell_rules`). The seed takes nuclei and the threshold segmentation from OpenCV
    contour processing; here both come from :func:`~cellbundles.postprocess.classical_cells.stain_segmentations`:
    classical nuclei of the nucleus stain and an Otsu threshold of the smoothed cell stain.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import convert_to_numpy, convert_to_tensor
from scipy import ndimage

from cellbundles.postprocess.cell_rules import apply_cell_rules
from cellbundles.postprocess.classical_cells import stain_segmentations

__all__ = ["CellRulesD", "CellRulesDict", "CellRulesd"]


class CellRulesd(MapTransform):
    """Merge cells sharing a nucleus, recover uncovered foreground, cover uncovered nuclei (seed 004).

    Reads ``keys`` (one key): ``(1, H, W)`` cell instances ranked by score (as written by
    :class:`~cellbundles.transforms.DetectionsToInstancesd`), ``score_key`` ``(K,)`` and ``image_key`` the
    ``(2, H, W)`` image; rewrites the instances, ``score_key`` and ``centroid_key`` ``(K', 2)``.

    Args:
        keys: key of the cell instances.
        image_key, score_key, centroid_key: keys of the image, the scores and the centroids.
        nucleus_channel, cell_channel: channel indices of the stains.
        nucleus_diameter: typical nucleus diameter in pixels (of the nucleus segmentation).
        foreground_sigma: Gaussian smoothing in pixels of the cell stain before its Otsu threshold.
        min_region_size, min_overlap: see :func:`~cellbundles.postprocess.cell_rules.apply_cell_rules`.
    """

    def __init__(
        self,
        keys: KeysCollection = "instances",
        image_key: str = "image",
        score_key: str = "scores",
        centroid_key: str = "centroids",
        nucleus_channel: int = 0,
        cell_channel: int = 1,
        nucleus_diameter: float = 18.0,
        foreground_sigma: float = 2.0,
        min_region_size: int = 50,
        min_overlap: float = 0.1,
    ) -> None:
        super().__init__(keys)
        if len(self.keys) != 1:
            raise ValueError(f"CellRulesd takes one instance key, got {self.keys}.")
        self.image_key, self.score_key, self.centroid_key = image_key, score_key, centroid_key
        self.nucleus_channel, self.cell_channel = nucleus_channel, cell_channel
        self.nucleus_diameter, self.foreground_sigma = nucleus_diameter, foreground_sigma
        self.min_region_size, self.min_overlap = min_region_size, min_overlap

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        key = self.keys[0]
        image = convert_to_numpy(d[self.image_key]).astype(np.float32)
        nuclei, foreground, _ = stain_segmentations(
            image[self.nucleus_channel], image[self.cell_channel], self.nucleus_diameter, self.foreground_sigma
        )
        cells, scores = apply_cell_rules(
            convert_to_numpy(d[key])[0],
            convert_to_numpy(d[self.score_key]).reshape(-1),
            nuclei,
            foreground,
            self.min_region_size,
            self.min_overlap,
        )
        centroids = ndimage.center_of_mass(np.ones_like(cells), cells, np.arange(1, scores.size + 1))
        d[key] = convert_to_tensor(cells[None], track_meta=False)
        d[self.score_key] = scores
        d[self.centroid_key] = np.asarray(centroids, dtype=np.float64).reshape(scores.size, 2)
        return d


CellRulesD = CellRulesDict = CellRulesd
