from __future__ import annotations

import numpy as np
import pytest

from cellbundles.postprocess import BatchDensityPeaks, count_from_density, find_density_peaks
from cellbundles.transforms import render_gaussian_density


def as_set(coords):
    return {tuple(int(v) for v in row) for row in coords}


def test_recovers_known_centroids_of_a_rendered_density():
    spacing = np.array([2.0, 0.5, 0.5])
    centroids = np.array([[4, 10, 10], [4, 10, 22], [10, 25, 12], [11, 9, 26], [6, 26, 26]])
    density = render_gaussian_density(centroids, (16, 36, 36), 1.0 / spacing)
    coords, values = find_density_peaks(density, threshold=1e-3, min_distance_um=2.0, spacing=spacing)
    assert as_set(coords) == as_set(centroids)
    assert np.all(np.diff(values) <= 0)
    assert count_from_density(density) == pytest.approx(5.0, abs=1e-6)


def test_minimum_distance_is_measured_in_physical_units():
    spacing = (2.0, 1.0, 0.5)
    density = np.zeros((12, 12, 24))
    density[4, 6, 6] = 1.0
    density[6, 6, 6] = 0.9  # 2 voxels = 4 um along z: kept
    density[4, 6, 10] = 0.8  # 4 voxels = 2 um along x: within 3 um of the first peak, dropped
    density[9, 6, 20] = 0.7  # far from all: kept
    coords, values = find_density_peaks(density, threshold=0.1, min_distance_um=3.0, spacing=spacing)
    assert as_set(coords) == {(4, 6, 6), (6, 6, 6), (9, 6, 20)}
    np.testing.assert_allclose(values, [1.0, 0.9, 0.7])
    # in voxel units the z pair (2 voxels apart) is now too close, the x pair (4 voxels) is not
    coords, _ = find_density_peaks(density, threshold=0.1, min_distance_um=3.0)
    assert as_set(coords) == {(4, 6, 6), (4, 6, 10), (9, 6, 20)}


def test_suppression_is_greedy_by_value():
    density = np.zeros((1, 30))
    density[0, [5, 8, 11]] = [0.5, 1.0, 0.6]
    coords, _ = find_density_peaks(density, threshold=0.0, min_distance_um=4.0)
    assert as_set(coords) == {(0, 8)}
    coords, _ = find_density_peaks(density, threshold=0.0, min_distance_um=3.0)
    assert as_set(coords) == {(0, 5), (0, 8), (0, 11)}


def test_threshold_and_plateaus():
    density = np.zeros((10, 10))
    density[2:4, 2:4] = 0.5  # a plateau: one peak
    density[7, 7] = 0.05
    coords, _ = find_density_peaks(density, threshold=0.1, min_distance_um=2.0)
    assert len(coords) == 1 and 2 <= coords[0][0] <= 3 and 2 <= coords[0][1] <= 3
    empty, values = find_density_peaks(np.zeros((8, 8, 8)), threshold=0.0, min_distance_um=1.0)
    assert empty.shape == (0, 3) and values.shape == (0,)


def test_batch_density_peaks_reads_the_density_channel():
    output = np.zeros((2, 3, 8, 16, 16), dtype=np.float32)
    output[0, 2, 3, 4, 5] = 1.0
    output[1, 2, 5, 10, 12] = 1.0
    output[1, 0] = 5.0  # segmentation channels are ignored
    peaks = BatchDensityPeaks(threshold=0.5, min_distance_um=1.0)(output)
    assert [as_set(p) for p in peaks] == [{(3, 4, 5)}, {(5, 10, 12)}]


@pytest.mark.parametrize("density", [np.zeros(5), np.full((4, 4), np.nan)])
def test_bad_density_raises(density):
    with pytest.raises(ValueError):
        find_density_peaks(density, threshold=0.0, min_distance_um=1.0)


def test_count_from_density_within_region():
    density = np.full((4, 5), 0.01)
    density[1, 1] = 1.0
    region = np.zeros((4, 5), dtype=bool)
    region[1, 1] = True
    assert count_from_density(density) == pytest.approx(1.19)
    assert count_from_density(density, region) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="region shape"):
        count_from_density(density, region[:2])


def test_region_keeps_the_separated_peaks_inside_it():
    """Peaks at x 5, 8 and 20: x 8 (the highest) suppresses x 5 and stays a suppressor when the region leaves it out."""
    density = np.zeros((1, 30))
    density[0, [5, 8, 20]] = [0.5, 1.0, 0.6]
    region = np.ones((1, 30), dtype=bool)
    region[0, 8] = False
    coords, values = find_density_peaks(density, threshold=0.0, min_distance_um=4.0, region=region)
    assert as_set(coords) == {(0, 20)} and values.tolist() == [0.6]
    with pytest.raises(ValueError, match="region shape"):
        find_density_peaks(density, threshold=0.0, min_distance_um=4.0, region=region[:, :10])
