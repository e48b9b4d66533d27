"""End-to-end test of the classical baseline config of ``nuclei_segdet_3d`` (``configs/baseline.json`` merged
over ``configs/inference.json``), run from the repository root as users run it (``python -m monai.bundle``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from cellbundles.io import read_image, write_image
from cellbundles.synth import nuclei3d

from bundle_cli import run_monai_bundle

REPO = Path(__file__).resolve().parents[2]
BUNDLE = Path("bundles") / "nuclei_segdet_3d"
BASELINE = f"['{BUNDLE}/configs/inference.json','{BUNDLE}/configs/baseline.json']"
SPACING = (2.0, 0.5, 0.5)  # z step 4x the xy step
N_NUCLEI = 6


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> dict[str, object]:
    """One anisotropic phantom of separate nuclei (touching ones: tests/postprocess/test_classical.py), saved
    with its voxel size and (a copy) without."""
    root = tmp_path_factory.mktemp("baseline")
    psf_sigma = tuple(np.array([1.5, 0.75, 0.75]) / np.array(SPACING))
    sample = nuclei3d((20, 80, 80), N_NUCLEI, (3.0, 4.0), SPACING, psf_sigma=psf_sigma, seed=4)
    (root / "with").mkdir()
    (root / "without").mkdir()
    write_image(root / "with" / "embryo.tif", sample["image"], SPACING)
    write_image(root / "without" / "embryo.tif", sample["image"], None)
    sizes = np.bincount(sample["labels"].ravel())[1:] * np.prod(SPACING)
    return {"root": root, "shape": sample["image"].shape, "diameter": float(np.median(np.cbrt(6 * sizes / np.pi)))}


def _baseline(dataset: Path, out: Path, *options: str) -> dict:
    run_monai_bundle(
        "run", "--config_file", BASELINE, "--bundle_root", str(BUNDLE), "--dataset_dir", str(dataset),
        "--output_dir", str(out), *options, cwd=REPO,
    )  # fmt: skip
    return json.loads((out / "summary.json").read_text())["images"][0]


def _check_outputs(out: Path, shape: tuple[int, ...]) -> None:
    for kind in ("instances", "mask"):
        array, spacing = read_image(out / f"embryo_{kind}.tif")
        assert array.shape == shape
        assert spacing == pytest.approx(SPACING, rel=1e-3)
    instances = read_image(out / "embryo_instances.tif")[0]
    assert len(np.unique(instances)) == N_NUCLEI + 1
    with open(out / "embryo_centroids.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == N_NUCLEI
    for row in rows:  # each centre lies inside its instance
        z, y, x = (int(round(float(row[axis]))) for axis in "zyx")
        assert instances[z, y, x] > 0
    assert (out / "embryo_overlay.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_baseline_with_estimated_diameter(phantom, tmp_path):
    record = _baseline(phantom["root"] / "with", tmp_path / "out")
    _check_outputs(tmp_path / "out", phantom["shape"])
    assert record["n_instances"] == record["n_centroids"] == N_NUCLEI
    assert record["nucleus_diameter_um"] == pytest.approx(phantom["diameter"], rel=0.25)


@pytest.mark.slow
def test_baseline_with_given_diameter_and_spacing(phantom, tmp_path):
    options = ("--nucleus_diameter_um", "7", "--input_spacing", "[2.0, 0.5, 0.5]")
    record = _baseline(phantom["root"] / "without", tmp_path / "out", *options)
    _check_outputs(tmp_path / "out", phantom["shape"])
    assert record["nucleus_diameter_um"] == 7.0
