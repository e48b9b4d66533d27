from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cellbundles.synth import cells2d


def test_cells2d_outputs():
    sample = cells2d(shape=(128, 128), n_cells=6, seed=0)
    assert sample["image"].shape == (2, 128, 128) and sample["image"].dtype == np.float32
    cells, nuclei = sample["cell_labels"], sample["nucleus_labels"]
    assert cells.dtype == nuclei.dtype == np.uint16 and cells.shape == nuclei.shape == (128, 128)
    n_nuclei = int(nuclei.max())
    np.testing.assert_array_equal(np.unique(cells), np.arange(7))
    np.testing.assert_array_equal(np.unique(nuclei), np.arange(n_nuclei + 1))
    assert sample["nucleus_to_cell"].shape == (n_nuclei + 1,) and sample["nucleus_to_cell"][0] == 0
    assert sample["cell_centroids"].shape == (6, 2) and sample["nucleus_centroids"].shape == (n_nuclei, 2)
    expected = ndimage.center_of_mass(cells > 0, cells, np.arange(1, 7))
    np.testing.assert_allclose(sample["cell_centroids"], expected)
    nucleus_stain, cytoplasm_stain = sample["image"]
    assert nucleus_stain[nuclei > 0].mean() > nucleus_stain[nuclei == 0].mean() + 0.3
    assert cytoplasm_stain[cells > 0].mean() > cytoplasm_stain[cells == 0].mean() + 0.1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_nucleus_lies_inside_exactly_one_cell(seed):
    sample = cells2d(n_cells=14, p_two_nuclei=0.3, seed=seed)
    cells, nuclei, nucleus_to_cell = sample["cell_labels"], sample["nucleus_labels"], sample["nucleus_to_cell"]
    for nucleus in range(1, int(nuclei.max()) + 1):
        owners = np.unique(cells[nuclei == nucleus])
        assert owners.tolist() == [nucleus_to_cell[nucleus]]
    np.testing.assert_array_equal(cells[nuclei > 0], nucleus_to_cell[nuclei][nuclei > 0])
    # every cell holds one or two nuclei
    per_cell = np.bincount(nucleus_to_cell[1:], minlength=15)[1:]
    assert per_cell.min() >= 1 and per_cell.max() <= 2


def test_number_of_nuclei_per_cell_follows_p_two_nuclei():
    single = cells2d(shape=(128, 128), n_cells=5, p_two_nuclei=0.0, seed=3)
    double = cells2d(shape=(160, 160), n_cells=5, p_two_nuclei=1.0, seed=3)
    np.testing.assert_array_equal(single["nucleus_to_cell"], np.arange(6))
    np.testing.assert_array_equal(np.bincount(double["nucleus_to_cell"][1:])[1:], [2] * 5)
    assert double["nucleus_labels"].max() == 10


def test_clustered_cells_touch():
    sample = cells2d(n_cells=10, clustering=1.0, seed=4)
    cells = sample["cell_labels"]
    larger = ndimage.maximum_filter(cells, footprint=ndimage.generate_binary_structure(2, 1), mode="constant")
    touching = np.unique(cells[(cells > 0) & (larger > cells)])
    assert len(touching) >= 3


def test_cells2d_is_deterministic():
    first, again, other = (cells2d(shape=(128, 128), n_cells=5, seed=s) for s in (9, 9, 10))
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["cell_labels"], other["cell_labels"])


def test_cells2d_rejects_impossible_requests():
    with pytest.raises(ValueError, match="could not place cell"):
        cells2d(shape=(64, 64), n_cells=50, max_attempts=20)
    with pytest.raises(ValueError, match="clustering"):
        cells2d(clustering=2.0)
    with pytest.raises(ValueError, match="shape"):
        cells2d(shape=(64, 64, 64))


def test_cells_without_nuclei_and_nuclei_near_the_border():
    sample = cells2d(n_cells=12, p_no_nucleus=0.4, p_two_nuclei=0.3, nucleus_offset=1.0, seed=5)
    cells, nuclei, nucleus_to_cell = sample["cell_labels"], sample["nucleus_labels"], sample["nucleus_to_cell"]
    per_cell = np.bincount(nucleus_to_cell[1:], minlength=13)[1:]
    assert per_cell.min() == 0 and per_cell.max() == 2
    np.testing.assert_array_equal(np.unique(cells), np.arange(13))  # cells without a nucleus are kept
    np.testing.assert_array_equal(cells[nuclei > 0], nucleus_to_cell[nuclei][nuclei > 0])
    # off-centre nuclei: some nucleus lies well away from its cell's centroid
    offsets = [
        np.linalg.norm(np.array(ndimage.center_of_mass(nuclei == n)) - sample["cell_centroids"][nucleus_to_cell[n] - 1])
        for n in range(1, int(nuclei.max()) + 1)
    ]
    assert max(offsets) > 5.0
    with pytest.raises(ValueError, match="p_two_nuclei \\+ p_no_nucleus"):
        cells2d(p_two_nuclei=0.7, p_no_nucleus=0.5)
