from __future__ import annotations

import numpy as np
import pytest

from cellbundles.postprocess import flag_most_uncertain, mc_uncertainty_radii


def test_radius_is_the_distance_to_the_ninth_closest_of_ten_passes():
    reference = np.array([[10.0, 10.0, 10.0], [10.0, 40.0, 10.0]])
    passes = []
    for step in range(1, 11):
        # pass `step` sees the first nucleus `step` voxels off along x and the second exactly, plus a far peak
        passes.append(np.array([[10, 10, 10 + step], [10, 40, 10], [0, 0, 0]], dtype=float))
    radii = mc_uncertainty_radii(reference, passes, spacing=(2.0, 1.0, 0.5), quantile=0.9)
    np.testing.assert_allclose(radii, [9 * 0.5, 0.0])


def test_hundred_passes_match_the_sorted_distances():
    rng = np.random.default_rng(0)
    spacing = np.array([2.0, 0.5, 0.5])
    reference = np.array([[20.0, 50.0, 50.0]])
    offsets = rng.normal(scale=2.0, size=(100, 3))
    passes = [reference + offset for offset in offsets]
    radii = mc_uncertainty_radii(reference, passes, spacing=spacing)
    expected = np.sort(np.linalg.norm(offsets * spacing, axis=1))[89]
    assert radii[0] == pytest.approx(expected)


def test_missing_peaks_and_gating_give_infinite_radius():
    reference = np.array([[5.0, 5.0]])
    near, far, empty = np.array([[5.0, 6.0]]), np.array([[5.0, 15.0]]), np.zeros((0, 2))
    # 8 of 10 passes find the nucleus: the 9th closest sample is missing
    assert mc_uncertainty_radii(reference, [near] * 8 + [empty] * 2)[0] == np.inf
    assert mc_uncertainty_radii(reference, [near] * 9 + [empty])[0] == pytest.approx(1.0)
    # without a gate a far peak is still the nearest one; with a gate it is missing
    assert mc_uncertainty_radii(reference, [near] * 8 + [far] * 2)[0] == pytest.approx(10.0)
    assert mc_uncertainty_radii(reference, [near] * 8 + [far] * 2, gating_radius_um=3.0)[0] == np.inf
    assert mc_uncertainty_radii(reference, [near] * 8 + [far] * 2, quantile=0.8, gating_radius_um=3.0)[0] == 1.0


def test_no_reference_peak_and_bad_arguments():
    assert mc_uncertainty_radii(np.zeros((0, 3)), [np.zeros((2, 3))]).shape == (0,)
    with pytest.raises(ValueError):
        mc_uncertainty_radii(np.zeros((1, 3)), [])
    with pytest.raises(ValueError):
        mc_uncertainty_radii(np.zeros((1, 3)), [np.zeros((1, 3))], quantile=0.0)


def test_flag_most_uncertain_marks_the_top_fraction():
    radii = np.array([1.0, 5.0, np.inf, 2.0, 3.0, 0.5, 4.0, 1.5, 2.5, 3.5])
    radii = np.concatenate([radii, np.linspace(0.1, 0.9, 10)])
    flags = flag_most_uncertain(radii, fraction=0.1)
    assert flags.tolist() == [i in (1, 2) for i in range(20)]
    assert not flag_most_uncertain(radii[:9], fraction=0.1).any()
    assert flag_most_uncertain(np.array([2.0, 2.0, 1.0, 2.0]), fraction=0.5).tolist() == [False, True, False, True]
    with pytest.raises(ValueError):
        flag_most_uncertain(radii, fraction=1.5)
