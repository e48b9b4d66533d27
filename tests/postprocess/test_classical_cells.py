"""The classical two-channel cell baseline: nuclei seed a watershed of the cell stain."""

from __future__ import annotations

import numpy as np
import pytest

from cellbundles.metrics import match_instances
from cellbundles.postprocess import classical_cells
from cellbundles.synth import cells2d


def _two_touching_cells() -> tuple[np.ndarray, np.ndarray]:
    """Two 40 x 30 cells side by side, their shared border dim, each with a round nucleus; one cell without."""
    nucleus, cell = np.zeros((80, 140), np.float32), np.zeros((80, 140), np.float32)
    cell[20:60, 10:70] = 0.6
    cell[:, 39:41] *= 0.3  # dim border between the two touching cells
    cell[20:60, 100:130] = 0.5  # a third cell, apart, with no nucleus
    yy, xx = np.mgrid[:80, :140]
    for x in (25, 55):
        nucleus[(yy - 40) ** 2 + (xx - x) ** 2 <= 8**2] = 1.0
    return nucleus, cell


def test_touching_cells_split_at_their_dim_border_and_a_cell_without_nucleus_is_kept():
    nucleus, cell = _two_touching_cells()
    labels = classical_cells(nucleus, cell, nucleus_diameter=16.0, foreground_sigma=1.0)
    assert labels.dtype == np.int32 and labels.max() == 3
    left, right, apart = labels[40, 25], labels[40, 55], labels[40, 115]
    assert len({left, right, apart}) == 3 and 0 not in (left, right, apart)
    # the two touching cells meet at the dim border, within a pixel
    border = [np.flatnonzero(labels[row, 10:70] == right)[0] + 10 for row in range(25, 56)]
    assert min(border) >= 39 and max(border) <= 41
    assert (labels[:15] == 0).all() and (labels[:, 75:95] == 0).all()  # background stays background


def test_the_stains_must_be_two_images_of_one_shape():
    with pytest.raises(ValueError, match=r"two \(H, W\) stains of one shape"):
        classical_cells(np.zeros((8, 8)), np.zeros((8, 9)))


def test_phantom_cells_are_found_well_by_the_baseline():
    """Clustered cells2d phantoms: the baseline finds most cells (it is the floor the networks must beat)."""
    accuracies = []
    for seed in range(3):
        sample = cells2d(n_cells=10, clustering=1.0, seed=seed)
        image = sample["image"].astype(np.float32)
        labels = classical_cells(image[0] / image[0].max(), image[1] / image[1].max())
        accuracies.append(match_instances(sample["cell_labels"], labels, 0.5).accuracy)
    assert 0.75 < np.mean(accuracies) <= 1.0, accuracies
