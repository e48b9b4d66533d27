from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from cellbundles.synth import cells2d, nuclei3d
from cellbundles.synth.cli import main


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_cli_nuclei3d_writes_the_canonical_layout(tmp_path, capsys):
    out = tmp_path / "phantoms"
    argv = ["nuclei3d", "--n", "3", "--out", str(out), "--seed", "3", "--shape", "24", "48", "48", "--n-objects", "4"]
    argv += ["--spacing", "1.0", "0.4", "0.4"]
    assert main(argv) == 0
    ids = [f"nuclei3d_s3_{i:03d}" for i in range(3)]
    for folder in ("images", "labels", "binary", "contour", "shapemarker"):
        assert sorted(p.name for p in (out / folder).iterdir()) == [f"{i}.tif" for i in ids]
    assert "[3/3] nuclei3d_s3_002" in capsys.readouterr().err

    expected = nuclei3d(shape=(24, 48, 48), n_nuclei=4, spacing=(1.0, 0.4, 0.4), seed=np.random.SeedSequence([3, 1]))
    with tifffile.TiffFile(out / "images" / f"{ids[1]}.tif") as tif:
        assert tif.imagej_metadata["spacing"] == pytest.approx(1.0)
        np.testing.assert_array_equal(tif.asarray(), expected["image"])
    with tifffile.TiffFile(out / "labels" / f"{ids[1]}.tif") as tif:
        assert tif.imagej_metadata["spacing"] == pytest.approx(1.0)
        np.testing.assert_array_equal(tif.asarray(), expected["labels"])
    np.testing.assert_array_equal(tifffile.imread(out / "shapemarker" / f"{ids[1]}.tif"), expected["shapemarker"])

    rows = _read_csv(out / "centroids" / f"{ids[1]}.csv")
    assert len(rows) == 4
    got = np.array([[float(row[axis]) for axis in "zyx"] for row in rows])
    np.testing.assert_allclose(got, expected["centroids"])
    assert float(rows[0]["x_um"]) == pytest.approx(expected["centroids_um"][0, 2])

    datalist = json.loads((out / "datalist.json").read_text())
    items = datalist["training"] + datalist["validation"]
    assert sorted(item["image"] for item in items) == [f"images/{i}.tif" for i in ids]
    assert all(item["label"].startswith("labels/") and item["spacing"] == pytest.approx([1.0, 0.4, 0.4]) for item in items)


def test_cli_sample_does_not_depend_on_the_number_generated(tmp_path):
    common = ["nuclei2d", "--seed", "5", "--shape", "64", "64", "--n-objects", "5"]
    assert main([*common, "--n", "1", "--out", str(tmp_path / "one")]) == 0
    assert main([*common, "--n", "3", "--out", str(tmp_path / "three")]) == 0
    for folder in ("images", "labels", "contour"):
        first = tifffile.imread(tmp_path / "one" / folder / "nuclei2d_s5_000.tif")
        np.testing.assert_array_equal(first, tifffile.imread(tmp_path / "three" / folder / "nuclei2d_s5_000.tif"))
    other = tifffile.imread(tmp_path / "three" / "labels" / "nuclei2d_s5_001.tif")
    assert not np.array_equal(first, other)


def test_cli_cells2d_writes_cells_and_nuclei(tmp_path):
    out = tmp_path / "cells"
    argv = ["cells2d", "--n", "2", "--out", str(out), "--shape", "96", "96", "--n-objects", "3", "--p-two-nuclei", "1"]
    assert main(argv) == 0
    expected = cells2d(shape=(96, 96), n_cells=3, p_two_nuclei=1.0, seed=np.random.SeedSequence([0, 0]))
    sample_id = "cells2d_s0_000"
    np.testing.assert_array_equal(tifffile.imread(out / "images" / f"{sample_id}.tif"), expected["image"])
    np.testing.assert_array_equal(tifffile.imread(out / "labels" / f"{sample_id}.tif"), expected["cell_labels"])
    np.testing.assert_array_equal(tifffile.imread(out / "nuclei" / f"{sample_id}.tif"), expected["nucleus_labels"])
    rows = _read_csv(out / "centroids" / f"{sample_id}.csv")
    assert [int(row["n_nuclei"]) for row in rows] == [2, 2, 2]
    assert (out / "datalist.json").is_file()


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit) as error:
        main(["nuclei3d", "--n", "0", "--out", str(tmp_path)])
    assert error.value.code == 2
    with pytest.raises(SystemExit):
        main(["nuclei2d", "--n", "1", "--out", str(tmp_path), "--shape", "32", "32", "--n-objects", "500"])
    assert "could not place nucleus" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["cells2d", "--n", "1", "--out", str(tmp_path), "--touching-fraction", "0.5"])


@pytest.mark.slow
def test_cli_runs_as_a_module(tmp_path):
    out = tmp_path / "module"
    command = [sys.executable, "-m", "cellbundles.synth", "nuclei3d", "--n", "2", "--out", str(out)]
    result = subprocess.run([*command, "--shape", "24", "48", "48", "--n-objects", "3"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "[2/2] nuclei3d_s0_001" in result.stderr
    with tifffile.TiffFile(out / "images" / "nuclei3d_s0_001.tif") as tif:
        assert tif.imagej_metadata["spacing"] == pytest.approx(0.8)
    assert len(json.loads((out / "datalist.json").read_text())["training"]) >= 1
