"""The vendored sample data is intact and readable by cellbundles.io."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cellbundles.data import file_sha256
from cellbundles.io import decode_image, is_supported_image, read_centroids_csv, read_labels, validate_pair

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
SAMPLE_FOLDERS = sorted(path.parent for path in SAMPLES.glob("*/manifest.json"))


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_sample_folders_are_present():
    assert {folder.name for folder in SAMPLE_FOLDERS} >= {
        "dsb2018_stage1_train",
        "gonuclear_ovule_3d",
        "qcanet_mouse_embryo_3d",
        "stardist_testdata",
    }


@pytest.mark.parametrize("folder", SAMPLE_FOLDERS, ids=lambda folder: folder.name)
def test_every_file_matches_the_manifest(folder):
    listed = {entry["path"]: entry for entry in _manifest(folder)["files"]}
    present = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}
    assert present - {"manifest.json"} == set(listed), "files on disk differ from the manifest"
    for relative, entry in listed.items():
        path = folder / relative
        assert path.stat().st_size == entry["bytes"], relative
        assert file_sha256(path) == entry["sha256"], relative


@pytest.mark.parametrize("folder", SAMPLE_FOLDERS, ids=lambda folder: folder.name)
def test_every_sample_is_readable(folder):
    samples = _manifest(folder)["samples"]
    assert samples
    for sample in samples:
        image_path, label_path = folder / sample["image"], folder / sample["label"]
        image, spacing, rgb = decode_image(image_path)
        labels, _ = read_labels(label_path)
        validate_pair(image, labels, image_path, label_path)
        assert labels.max() > 0
        if "n_instances" in sample:
            assert len(np.unique(labels[labels > 0])) == sample["n_instances"]
        if "voxel_size_um_zyx" in sample:
            np.testing.assert_allclose(spacing, sample["voxel_size_um_zyx"], rtol=1e-4)
        if "shape_zyx" in sample:
            assert image.shape == tuple(sample["shape_zyx"])
        if "image_mode" in sample:
            assert rgb == (sample["image_mode"] in ("RGB", "RGBA"))
        if "centroids" in sample:
            assert read_centroids_csv(folder / sample["centroids"]).shape == (sample["n_instances"], 3)


@pytest.mark.parametrize("folder", SAMPLE_FOLDERS, ids=lambda folder: folder.name)
def test_every_vendored_image_file_opens(folder):
    for path in sorted(folder.rglob("*")):
        if is_supported_image(path):
            array, _, _ = decode_image(path)
            assert array.size > 0
