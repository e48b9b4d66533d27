from __future__ import annotations

import json
import time

import numpy as np
import pytest

from cellbundles.io import read_image, read_labels
from cellbundles.synth import randomised_nuclei3d
from cellbundles.synth.cli import main
from cellbundles.synth.randomised import MAX_VOXELS, PARAMETER_RANGES, SEMI_AXES_RANGE_UM
from cellbundles.synth.utils import LabelCanvas, place_randomly, sample_star_ellipsoid, shape_marker

SMALL = {"max_voxels": 24 * 56 * 56}
N_SEEDS = 30


@pytest.fixture(scope="module")
def samples():
    return [randomised_nuclei3d(seed, **SMALL) for seed in range(N_SEEDS)]


def _check_sample(sample):
    params, labels = sample["params"], sample["labels"]
    shape, n = tuple(params["shape"]), params["n_nuclei"]
    assert sample["image"].shape == labels.shape == shape and sample["image"].dtype == np.dtype(params["dtype"])
    assert labels.dtype == np.uint16
    np.testing.assert_array_equal(np.unique(labels), np.arange(n + 1))
    assert sample["centroids"].shape == sample["semi_axes_um"].shape == (n, 3)
    assert np.all((sample["centroids"] >= 0) & (sample["centroids"] <= np.array(shape) - 1))
    np.testing.assert_allclose(sample["centroids_um"], sample["centroids"] * np.array(params["spacing"]))
    assert sample["spacing"] == pytest.approx(params["spacing"])
    np.testing.assert_array_equal(sample["binary"], labels > 0)
    assert not np.any(sample["contour"][labels == 0]) and (n == 0 or sample["contour"].any())
    assert np.all((sample["shapemarker"] > 0) == (labels > 0))
    assert json.loads(json.dumps(params)) == params


def _border_share(labels):
    """Share of the voxels on the six faces of the volume that lie in a nucleus."""
    faces = [np.take(labels, index, axis) > 0 for axis in range(3) for index in (0, -1)]
    return sum(face.sum() for face in faces) / sum(face.size for face in faces)


def test_every_parameter_varies_within_its_range(samples):
    params = [s["params"] for s in samples]
    for name, (low, high) in PARAMETER_RANGES.items():
        values = np.array([p[name] for p in params])
        assert np.all((values >= low) & (values <= high)), name
        assert np.ptp(values) >= (0.4 if name == "nucleoli" else 0.3) * (high - low), name
    assert {p["nucleoli"] for p in params} <= {0, 1, 2, 3} and all(isinstance(p["nucleoli"], int) for p in params)
    assert {p["dtype"] for p in params} == {"uint8", "uint16"}
    assert {p["cut_border"] for p in params} == {True, False}

    radius = np.array([p["radius_um"] for p in params])
    assert np.all(radius[:, 0] <= radius[:, 1]) and radius.mean(axis=1).max() / radius.mean(axis=1).min() > 2.0
    semi_axes = np.concatenate([s["semi_axes_um"] for s in samples])
    assert len(semi_axes) > 100
    assert semi_axes.min() >= SEMI_AXES_RANGE_UM[0] - 1e-9 and semi_axes.max() <= SEMI_AXES_RANGE_UM[1] + 1e-9
    ratio = semi_axes.max(axis=1) / semi_axes.min(axis=1)
    assert ratio.max() > 1.5 and np.all(ratio <= np.sqrt(2.0) ** 2 + 1e-9)

    for p in params:
        z, y, x = p["spacing"]
        radius_mean = 0.5 * sum(p["radius_um"])
        assert y == x and z / y == pytest.approx(p["anisotropy"])
        assert 2 * radius_mean / y == pytest.approx(p["diameter_px"])
        assert 0.5 <= p["psf_sigma_xy_um"] / y <= 2.0
        xy_sigma = p["psf_sigma_xy_um"]
        assert p["psf_sigma_um"] == pytest.approx([p["psf_axial_ratio"] * xy_sigma, xy_sigma, xy_sigma])
        assert 2.0 <= p["haze_sigma_um"] / radius_mean <= 4.0
        assert (0.0 <= p["offset"] <= 20.0) if p["dtype"] == "uint8" else (50.0 <= p["offset"] <= 500.0)
        assert p["dtype"] == "uint8" or 0.5 <= p["gain"] <= 4.0
        largest = 2 * p["radius_um"][1] * np.sqrt(p["elongation"]) * (1 + p["irregularity"])
        fits_one = np.ceil(largest / np.array(p["spacing"])) + 3  # the voxel cap yields to one nucleus
        assert np.prod(p["shape"]) <= SMALL["max_voxels"] or np.any(np.array(p["shape"]) == fits_one)
        assert 0 < p["n_nuclei"] <= p["n_drawn"]
    achieved = np.array([p["packing_achieved"] for p in params])
    assert achieved.max() > 0.4 and achieved.min() < 0.1
    assert sum(p["n_mitotic"] for p in params) > 0


def test_outputs_are_consistent(samples):
    for sample in samples:
        _check_sample(sample)
    brighter = [s["image"][s["binary"] > 0].mean() > s["image"][s["binary"] == 0].mean() for s in samples]
    assert np.mean(brighter) > 0.9


def test_fixed_parameters_are_honoured():
    fixed = {"radius_um": (3, 5.5), "photons": 25, "anisotropy": 6, "packing": 0.5, "elongation": 1.5, "dtype": "uint8"}
    sample = randomised_nuclei3d(7, **SMALL, **fixed)
    _check_sample(sample)
    params = sample["params"]
    assert params["radius_um"] == [3.0, 5.5] and params["photons"] == 25.0 and params["packing"] == 0.5
    assert params["elongation"] == 1.5 and params["dtype"] == "uint8" and sample["image"].dtype == np.uint8
    assert sample["spacing"][0] / sample["spacing"][1] == pytest.approx(6.0)
    axes = sample["semi_axes_um"]
    assert axes.min() >= 3 / np.sqrt(1.5) - 1e-9 and axes.max() <= 5.5 * np.sqrt(1.5) + 1e-9

    single = randomised_nuclei3d(1, **SMALL, radius_um=4, spacing=(1.0, 0.25, 0.25), nucleoli=2, gain=2.0)
    assert single["params"]["radius_um"] == [4.0, 4.0] and single["spacing"] == (1.0, 0.25, 0.25)
    assert single["params"]["anisotropy"] == 4.0 and single["params"]["diameter_px"] == pytest.approx(32.0)
    assert single["params"]["nucleoli"] == 2 and single["params"]["gain"] == 2.0

    fixed_shape = randomised_nuclei3d(2, shape=(12, 40, 36))
    assert fixed_shape["image"].shape == (12, 40, 36)
    field = randomised_nuclei3d(2, shape_um=(10.0, 30.0, 30.0), spacing=(1.0, 0.5, 0.5))
    assert field["params"]["shape"] == [10, 60, 60]


def test_cut_border_lets_nuclei_cross_the_border():
    options = {**SMALL, "packing": 0.5, "touching_fraction": 0.5, "diameter_px": 12}
    cut, whole = (randomised_nuclei3d(3, cut_border=value, **options) for value in (True, False))
    for sample in (cut, whole):
        _check_sample(sample)
    assert _border_share(cut["labels"]) > 0.2 and _border_share(whole["labels"]) < 0.1


def test_fixing_the_signal_keeps_the_nuclei():
    drawn, low, high = (randomised_nuclei3d(5, **SMALL, **kw) for kw in ({}, {"photons": 20}, {"photons": 1000}))
    for other in (low, high):
        np.testing.assert_array_equal(drawn["labels"], other["labels"])
        assert {k: v for k, v in other["params"].items() if k not in ("photons", "gain")} == {
            k: v for k, v in drawn["params"].items() if k not in ("photons", "gain")
        }
    assert not np.array_equal(low["image"], high["image"])


def test_same_seed_same_volume():
    first, again, other = (randomised_nuclei3d(seed, **SMALL) for seed in (11, 11, 12))
    for key in ("image", "labels", "centroids", "semi_axes_um", "shapemarker"):
        np.testing.assert_array_equal(first[key], again[key])
    assert first["params"] == again["params"] and first["params"] != other["params"]
    seeded, reseeded = (randomised_nuclei3d(np.random.SeedSequence([3, 1]), **SMALL) for _ in range(2))
    np.testing.assert_array_equal(seeded["image"], reseeded["image"])


def test_crowded_default_volume_is_dense_and_quick():
    start = time.perf_counter()
    sample = randomised_nuclei3d(4, packing=0.7, touching_fraction=0.8, radius_um=(3, 5.5), spacing=(0.5, 0.2, 0.2))
    elapsed = time.perf_counter() - start
    _check_sample(sample)
    assert np.prod(sample["image"].shape) <= MAX_VOXELS
    assert sample["params"]["packing_achieved"] > 0.45
    assert elapsed < 15.0  # about 1-2 s on an idle core; generous for a loaded machine


def test_invalid_keywords_are_rejected():
    with pytest.raises(TypeError, match="unknown keyword"):
        randomised_nuclei3d(0, photon=10)
    with pytest.raises(ValueError, match="packing"):
        randomised_nuclei3d(0, packing=1.5)
    with pytest.raises(ValueError, match="spacing or diameter_px"):
        randomised_nuclei3d(0, spacing=(1, 0.5, 0.5), anisotropy=2)
    with pytest.raises(ValueError, match="cut_border"):
        randomised_nuclei3d(0, cut_border="yes")
    with pytest.raises(ValueError, match="dtype"):
        randomised_nuclei3d(0, dtype="float32")
    with pytest.raises(ValueError, match="not both"):
        randomised_nuclei3d(0, shape_um=(10, 20, 20), shape=(8, 16, 16))


def test_cli_writes_images_with_their_spacing_and_params(tmp_path):
    out = tmp_path / "random"
    argv = ["nuclei3d_random", "--n", "3", "--out", str(out), "--seed", "2", "--shape", "16", "40", "40"]
    assert main([*argv, "--fix", "photons=30", "--fix", "radius_um=[2, 3]", "--fix", "dtype=uint16"]) == 0
    ids = [f"nuclei3d_random_s2_{i:03d}" for i in range(3)]
    for folder, suffix in (("images", "tif"), ("labels", "tif"), ("shapemarker", "tif"), ("params", "json")):
        assert sorted(p.name for p in (out / folder).iterdir()) == [f"{i}.{suffix}" for i in ids]
    spacings = []
    for index, sample_id in enumerate(ids):
        expected = randomised_nuclei3d(
            np.random.SeedSequence([2, index]), shape=(16, 40, 40), photons=30, radius_um=[2, 3], dtype="uint16"
        )
        image, spacing = read_image(out / "images" / f"{sample_id}.tif")
        np.testing.assert_array_equal(image, expected["image"])
        assert image.dtype == np.uint16 and spacing == pytest.approx(expected["spacing"])
        labels, label_spacing = read_labels(out / "labels" / f"{sample_id}.tif")
        np.testing.assert_array_equal(labels, expected["labels"])
        assert label_spacing == pytest.approx(expected["spacing"])
        params = json.loads((out / "params" / f"{sample_id}.json").read_text())
        assert params == expected["params"] and params["photons"] == 30.0
        spacings.append(spacing)
    assert len({tuple(s) for s in spacings}) == 3  # each image keeps its own drawn spacing
    datalist = json.loads((out / "datalist.json").read_text())
    by_image = {item["image"]: item["spacing"] for item in datalist["training"] + datalist["validation"]}
    for sample_id, spacing in zip(ids, spacings):
        assert by_image[f"images/{sample_id}.tif"] == pytest.approx(spacing)

    fixed = tmp_path / "fixed"
    argv = ["nuclei3d_random", "--n", "1", "--out", str(fixed), "--shape", "12", "32", "32", "--spacing", "2", "1", "1"]
    assert main(argv) == 0
    assert read_image(fixed / "images" / "nuclei3d_random_s0_000.tif")[1] == pytest.approx((2.0, 1.0, 1.0))
    with pytest.raises(SystemExit):
        main(["nuclei3d_random", "--n", "1", "--out", str(tmp_path / "bad"), "--fix", "photons"])
    with pytest.raises(SystemExit):
        main(["nuclei3d_random", "--n", "1", "--out", str(tmp_path / "bad"), "--fix", "colour=1"])


def test_utils_extensions_for_the_randomised_generator():
    rng = np.random.default_rng(0)
    canvas = LabelCanvas((12, 12, 12), (1.0, 1.0, 1.0))
    crossing = 0
    for _ in range(20):
        shape = sample_star_ellipsoid(rng, 3, (3.0, 3.0))
        placed = place_randomly(canvas, shape, rng, gap=0, max_attempts=50, inside=False)
        if placed is not None:
            lo, hi = placed.bounding_box(canvas.spacing)
            crossing += bool(np.any(lo < 0) or np.any(hi > 12))
    assert crossing > 0 and canvas.count > 1

    labels = np.array([[0, 1, 2]])
    np.testing.assert_array_equal(shape_marker(labels, np.array([[2.0, 2.0], [1.0, 2.0]])), [[0, 255, 128]])
