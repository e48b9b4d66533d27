"""Size-aware inference of ``nuclei_segdet_3d`` with the shipped weights, run as users run it
(``python -m monai.bundle run`` from the repository root): anisotropic volumes whose nuclei are twice and half
the training size (``reference_diameter_um``) are counted right with the diameter given and estimated, every
output comes back on the input grid, a volume outside the trained size range gets a warning naming it, and a
diameter that would enlarge a volume beyond memory is refused (both 3D bundles)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cellbundles.io import read_image, write_image
from cellbundles.postprocess import median_diameter_um
from cellbundles.synth import nuclei3d

from bundle_cli import run_monai_bundle

REPO = Path(__file__).resolve().parents[2]
BUNDLE = Path("bundles") / "nuclei_segdet_3d"
INFERENCE = f"{BUNDLE}/configs/inference.json"
REFERENCE_DIAMETER_UM = json.loads((REPO / INFERENCE).read_text())["reference_diameter_um"]

#: name -> (shape, number of nuclei, semi-axis range um, spacing um): z step 2-2.5x the xy step
VOLUMES = {
    "twice": ((24, 96, 96), 6, (6.0, 7.0), (2.0, 0.8, 0.8)),
    "half": ((24, 80, 80), 6, (1.5, 1.75), (0.5, 0.2, 0.2)),
}


@pytest.fixture(scope="module")
def volumes(tmp_path_factory) -> dict[str, dict]:
    """One folder per size, each with one phantom volume saved with its spacing."""
    root = tmp_path_factory.mktemp("diameter")
    out = {}
    for name, (shape, n_nuclei, radii, spacing) in VOLUMES.items():
        psf = tuple(0.6 * radii[0] / 3.0 / np.asarray(spacing) * np.array([1.5, 1.0, 1.0]))
        sample = nuclei3d(shape, n_nuclei, radii, spacing, psf_sigma=psf, seed=3)
        write_image(root / name / f"{name}.tif", sample["image"], spacing)
        diameter = median_diameter_um(sample["labels"], spacing)
        out[name] = {"dir": root / name, "shape": shape, "n": n_nuclei, "diameter": diameter, "spacing": spacing}
    return out


def _infer(dataset: Path, out: Path, *options: str) -> tuple[dict, str]:
    _, log = run_monai_bundle(
        "run", "--config_file", INFERENCE, "--bundle_root", str(BUNDLE), "--dataset_dir", str(dataset),
        "--output_dir", str(out), *options, cwd=REPO,
    )  # fmt: skip
    return json.loads((out / "summary.json").read_text())["images"][0], log


def test_volumes_are_twice_and_half_the_training_size(volumes):
    assert volumes["twice"]["diameter"] / REFERENCE_DIAMETER_UM == pytest.approx(2.0, rel=0.15)
    assert volumes["half"]["diameter"] / REFERENCE_DIAMETER_UM == pytest.approx(0.5, rel=0.15)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(VOLUMES))
@pytest.mark.parametrize("diameter", ["given", "auto"])
def test_count_right_at_twice_and_half_the_training_size(volumes, name, diameter, tmp_path):
    volume = volumes[name]
    option = f"{volume['diameter']:.3f}" if diameter == "given" else "auto"
    record, _ = _infer(volume["dir"], tmp_path / "out", "--nucleus_diameter_um", option)
    assert record["n_centroids"] == volume["n"]
    if diameter == "given":
        assert record["nucleus_diameter_um"] == pytest.approx(volume["diameter"], rel=1e-3)
    else:
        assert record["nucleus_diameter_um"] == pytest.approx(volume["diameter"], rel=0.3)
    for kind in ("instances", "mask", "density"):
        array, spacing = read_image(tmp_path / "out" / f"{name}_{kind}.tif")
        assert array.shape == volume["shape"]
        assert spacing == pytest.approx(volume["spacing"], rel=1e-3)


@pytest.mark.slow
def test_estimate_outside_the_trained_range_warns_naming_the_file(volumes, tmp_path):
    record, log = _infer(volumes["half"]["dir"], tmp_path / "out", "--trained_diameter_range_um", "[5.0, 20.0]")
    assert record["nucleus_diameter_um"] < 5.0
    assert "half.tif" in log and "outside the trained range 5-20 um" in log
    assert "--nucleus_diameter_um" in log


@pytest.mark.slow
def test_a_bad_diameter_option_is_a_clear_error(volumes, tmp_path):
    code, log = run_monai_bundle(
        "run", "--config_file", INFERENCE, "--bundle_root", str(BUNDLE), "--dataset_dir", str(volumes["half"]["dir"]),
        "--output_dir", str(tmp_path / "out"), "--nucleus_diameter_um", "-3", cwd=REPO, check=False,
    )  # fmt: skip
    assert code != 0
    assert "nucleus_diameter_um must be a positive number of micrometres, got -3" in log
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.tif"))


@pytest.mark.slow
@pytest.mark.parametrize("bundle", ["nuclei_segdet_3d", "nuclei_shape_3d"])
def test_a_diameter_that_would_enlarge_the_volume_beyond_memory_is_refused(volumes, tmp_path, bundle):
    """At 0.1 um the 24 x 80 x 80 volume would be resampled to about 4 G voxels: the default ``max_scaled_voxels``
    (100 M) of both 3D bundles refuses it before the network runs, naming the file, and nothing is written."""
    root = Path("bundles") / bundle
    code, log = run_monai_bundle(
        "run", "--config_file", f"{root}/configs/inference.json", "--bundle_root", str(root),
        "--dataset_dir", str(volumes["half"]["dir"]),
        "--output_dir", str(tmp_path / "out"), "--nucleus_diameter_um", "0.1", cwd=REPO, check=False,
    )  # fmt: skip
    assert code != 0
    last = log.strip().splitlines()[-1]
    assert "half.tif" in last and "0.10 um (given)" in last and "--max_scaled_voxels" in last
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.tif"))


@pytest.mark.slow
def test_an_off_option_spelt_false_on_the_command_line_stays_off(volumes, tmp_path):
    """``--distance_output false`` reaches the config as the string "false"; read through ``as_flag`` it keeps the
    shipped network (with the string taken as true, the shipped weights would not fit the network)."""
    record, _ = _infer(volumes["half"]["dir"], tmp_path / "out", "--nucleus_diameter_um",
                       f"{volumes['half']['diameter']:.3f}", "--distance_output", "false")  # fmt: skip
    assert record["n_centroids"] == volumes["half"]["n"]
