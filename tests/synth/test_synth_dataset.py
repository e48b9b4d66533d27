from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from cellbundles.data import find_samples, load_datalist
from cellbundles.io import read_image, read_labels
from cellbundles.synth import nuclei2d
from cellbundles.synth.dataset import write_dataset

NUCLEI2D = {"shape": (32, 32), "n_nuclei": 3, "radius_range": (3.0, 5.0)}


def test_nuclei2d_dataset_layout_and_datalist(tmp_path):
    out = tmp_path / "phantoms"
    path = write_dataset(out, "nuclei2d", 3, seed=4, spacing=(0.5, 0.5), val_fraction=0.34, **NUCLEI2D)
    assert path == out / "datalist.json"
    ids = [f"nuclei2d_s4_{i:03d}" for i in range(3)]
    for folder in ("images", "labels", "binary", "contour"):
        assert sorted(p.name for p in (out / folder).iterdir()) == [f"{i}.tif" for i in ids]
    assert sorted(p.name for p in (out / "centroids").iterdir()) == [f"{i}.csv" for i in ids]
    assert [sample["id"] for sample in find_samples(out)] == ids

    expected = nuclei2d(seed=np.random.SeedSequence([4, 2]), **NUCLEI2D)
    image, spacing = read_image(out / "images" / f"{ids[2]}.tif")
    np.testing.assert_array_equal(image, expected["image"])
    assert spacing == pytest.approx((0.5, 0.5))
    labels, _ = read_labels(out / "labels" / f"{ids[2]}.tif")
    np.testing.assert_array_equal(labels, expected["labels"])
    with open(out / "centroids" / f"{ids[2]}.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    np.testing.assert_allclose([[float(r["y"]), float(r["x"])] for r in rows], expected["centroids"])
    assert float(rows[0]["x_um"]) == pytest.approx(0.5 * float(rows[0]["x"]))

    datalist = json.loads(path.read_text())
    assert len(datalist["training"]) == 2 and len(datalist["validation"]) == 1
    items = load_datalist(path, "training") + load_datalist(path, "validation")
    assert sorted(item["image"] for item in items) == [str(out / "images" / f"{i}.tif") for i in ids]


def test_nuclei3d_and_cells2d_kinds(tmp_path):
    options = {"shape": (12, 32, 32), "n_nuclei": 2, "radius_range_um": (1.5, 2.0)}
    write_dataset(tmp_path / "n3", "nuclei3d", 1, spacing=(1.0, 0.5, 0.5), **options)
    _, spacing = read_image(tmp_path / "n3" / "images" / "nuclei3d_s0_000.tif")
    assert spacing == pytest.approx((1.0, 0.5, 0.5))
    assert (tmp_path / "n3" / "shapemarker" / "nuclei3d_s0_000.tif").is_file()

    options = {"shape": (48, 48), "n_cells": 2, "cell_radius_range": (8.0, 10.0), "nucleus_radius_range": (3.0, 4.0)}
    write_dataset(tmp_path / "c2", "cells2d", 1, val_fraction=0.0, **options)
    image, spacing = read_image(tmp_path / "c2" / "images" / "cells2d_s0_000.tif")
    assert image.shape == (2, 48, 48) and spacing is None
    assert (tmp_path / "c2" / "nuclei" / "cells2d_s0_000.tif").is_file()
    with open(tmp_path / "c2" / "centroids" / "cells2d_s0_000.csv", newline="") as handle:
        assert "n_nuclei" in next(csv.reader(handle))


def test_existing_dataset_is_kept_without_overwrite(tmp_path):
    out = tmp_path / "phantoms"
    path = write_dataset(out, "nuclei2d", 1, **NUCLEI2D)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    stamps = {p: p.stat().st_mtime_ns for p in files}
    assert write_dataset(out, "nuclei2d", 2, seed=9, overwrite=False, **NUCLEI2D) == path
    assert sorted(p for p in out.rglob("*") if p.is_file()) == files
    assert {p: p.stat().st_mtime_ns for p in files} == stamps

    write_dataset(out, "nuclei2d", 2, overwrite=True, **NUCLEI2D)
    assert len(find_samples(out)) == 2
    assert path.stat().st_mtime_ns >= stamps[path]


def test_phantoms_are_not_added_to_a_folder_of_other_images(tmp_path):
    """Without overwrite (a bundle's "generate on first use"), a folder holding other images and no datalist.json is
    someone's dataset: nothing is written into it. An interrupted run of the same generator is completed."""
    out = tmp_path / "own_data"
    (out / "images").mkdir(parents=True)
    (out / "images" / "embryo_01.tif").write_bytes(b"not a phantom")
    with pytest.raises(ValueError, match=r"embryo_01\.tif.*--data_source datalist"):
        write_dataset(out, "nuclei2d", 1, overwrite=False, **NUCLEI2D)
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["embryo_01.tif"]

    partial = tmp_path / "phantoms"
    write_dataset(partial, "nuclei2d", 2, seed=3, **NUCLEI2D)
    (partial / "datalist.json").unlink()
    assert write_dataset(partial, "nuclei2d", 2, seed=3, overwrite=False, **NUCLEI2D).is_file()


@pytest.mark.parametrize(
    "kind, n, match",
    [
        ("spheroids", 1, "unknown phantom kind 'spheroids'"),
        ("nuclei2d", 0, "at least 1"),
        ("nuclei3d", -2, "at least 1"),
    ],
)
def test_bad_arguments_raise_before_writing(tmp_path, kind, n, match):
    with pytest.raises(ValueError, match=match):
        write_dataset(tmp_path / "out", kind, n)
    assert not (tmp_path / "out").exists()
