from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cellbundles.data import find_samples, list_inputs
from cellbundles.io import write_image

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def _make(root: Path, names: dict[str, list[str]]) -> None:
    for folder, files in names.items():
        for name in files:
            path = root / folder / name
            if name.endswith(".csv"):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("z,y,x\n1,2,3\n")
            else:
                write_image(path, np.zeros((4, 4), np.uint8))


def test_vendored_layouts():
    qcanet = find_samples(SAMPLES / "qcanet_mouse_embryo_3d")
    root = SAMPLES / "qcanet_mouse_embryo_3d"
    assert qcanet == [
        {
            "id": "8_cell_stage",
            "image": str(root / "images/8_cell_stage.tif"),
            "label": str(root / "labels/8_cell_stage.tif"),
            "centroids": str(root / "centroids/8_cell_stage.csv"),
        }
    ]
    dsb = find_samples(SAMPLES / "dsb2018_stage1_train")
    assert len(dsb) == 120 and all(set(sample) == {"id", "image", "label"} for sample in dsb)
    assert [sample["id"] for sample in dsb] == sorted(sample["id"] for sample in dsb)


def test_mixed_suffixes_optional_files_and_hidden_files(tmp_path):
    _make(
        tmp_path,
        {
            "images": ["a.ome.tif", "b.png", "c.nii.gz", ".a.tif.123.tmp.tif"],
            "labels": ["a.tif", "c.tif"],
            "centroids": ["b.csv"],
        },
    )
    samples = find_samples(tmp_path)
    assert [sample["id"] for sample in samples] == ["a", "b", "c"]
    assert samples[0]["label"].endswith("labels/a.tif") and "centroids" not in samples[0]
    assert samples[1]["centroids"].endswith("centroids/b.csv") and "label" not in samples[1]


def test_unsupported_files_are_skipped_with_a_warning(tmp_path):
    _make(tmp_path, {"images": ["a.tif"]})
    (tmp_path / "images" / "README.txt").write_text("notes")
    with pytest.warns(UserWarning, match="README.txt"):
        assert [sample["id"] for sample in find_samples(tmp_path)] == ["a"]


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        find_samples(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no images found"):
        find_samples(tmp_path)
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        find_samples(tmp_path)
    _make(tmp_path, {"images": ["a.tif"], "labels": ["a.tif", "zz.tif"]})
    with pytest.raises(ValueError, match=r"labels.*no image.*zz"):
        find_samples(tmp_path)
    (tmp_path / "labels" / "zz.tif").unlink()
    _make(tmp_path, {"centroids": ["q.csv"]})
    with pytest.raises(ValueError, match=r"centroids.*q"):
        find_samples(tmp_path)
    (tmp_path / "centroids" / "q.csv").unlink()
    _make(tmp_path, {"images": ["a.png"]})
    with pytest.raises(ValueError, match="two files for the sample 'a'"):
        find_samples(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        find_samples(tmp_path / "images" / "a.tif")


def test_list_inputs_of_a_flat_folder(tmp_path):
    _make(tmp_path, {".": ["b.png", "a.ome.tif", "c.nii.gz", ".a.tif.123.tmp.tif"]})
    (tmp_path / "notes.txt").write_text("notes")
    (tmp_path / "sub").mkdir()
    with pytest.warns(UserWarning, match="notes.txt"):
        inputs = list_inputs(tmp_path)
    assert inputs == [{"image": str(tmp_path / name)} for name in ("a.ome.tif", "b.png", "c.nii.gz")]


def test_list_inputs_of_a_canonical_dataset(tmp_path):
    _make(tmp_path, {"images": ["b.tif", "a.tif"], "labels": ["a.tif"], "centroids": ["b.csv"]})
    assert list_inputs(tmp_path) == [
        {"image": str(tmp_path / "images" / "a.tif"), "label": str(tmp_path / "labels" / "a.tif")},
        {"image": str(tmp_path / "images" / "b.tif"), "centroids": str(tmp_path / "centroids" / "b.csv")},
    ]


def test_list_inputs_of_one_file(tmp_path):
    _make(tmp_path, {".": ["x.tiff"]})
    assert list_inputs(tmp_path / "x.tiff") == [{"image": str(tmp_path / "x.tiff")}]
    (tmp_path / "table.csv").write_text("y,x\n1,2\n")
    with pytest.raises(ValueError, match=r"table\.csv: not a supported image"):
        list_inputs(tmp_path / "table.csv")


def test_list_inputs_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        list_inputs(tmp_path / "missing")
    with pytest.raises(ValueError, match="no image with a suffix"):
        list_inputs(tmp_path)
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        list_inputs(tmp_path)
