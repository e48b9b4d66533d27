from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from cellbundles.data import build_datalist, load_datalist, write_datalist
from cellbundles.io import write_image

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
SPACING = (2.0, 0.5, 0.25)


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "toy"
    for index in range(10):
        write_image(root / "images" / f"s{index:02d}.tif", np.zeros((2, 4, 4), np.uint8), spacing=SPACING)
        if index % 2 == 0:
            write_image(root / "labels" / f"s{index:02d}.tif", np.zeros((2, 4, 4), np.uint16), spacing=SPACING)
    (root / "centroids").mkdir()
    (root / "centroids" / "s01.csv").write_text("z,y,x\n1,1,1\n")
    return root


def _ids(items):
    return [Path(item["image"]).stem for item in items]


def test_split_sizes_content_and_determinism(dataset):
    datalist = build_datalist(dataset, val_fraction=0.2, test_fraction=0.1, seed=3)
    assert datalist["name"] == "toy" and datalist["spacing_unit"] == "um"
    sizes = [len(datalist[section]) for section in ("training", "validation", "test")]
    assert sizes == [7, 2, 1]
    all_ids = sum((_ids(datalist[section]) for section in ("training", "validation", "test")), [])
    assert sorted(all_ids) == [f"s{index:02d}" for index in range(10)]
    assert datalist == build_datalist(dataset, val_fraction=0.2, test_fraction=0.1, seed=3)
    assert any(
        _ids(build_datalist(dataset, seed=seed)["validation"]) != _ids(datalist["validation"]) for seed in range(4, 8)
    )
    items = {
        Path(item["image"]).stem: item for section in ("training", "validation", "test") for item in datalist[section]
    }
    assert items["s00"] == {
        "image": "images/s00.tif",
        "label": "labels/s00.tif",
        "spacing": pytest.approx(list(SPACING)),
    }
    assert items["s01"] == {
        "image": "images/s01.tif",
        "centroids": "centroids/s01.csv",
        "spacing": pytest.approx(list(SPACING)),
    }


def test_small_datasets_and_bad_fractions(dataset):
    single = build_datalist(SAMPLES / "gonuclear_ovule_3d")
    assert len(single["training"]) == 1 and single["validation"] == [] and single["test"] == []
    np.testing.assert_allclose(single["training"][0]["spacing"], [0.28372, 0.12679, 0.12679], rtol=1e-4)
    assert len(build_datalist(dataset, val_fraction=0.01)["validation"]) == 1
    assert len(build_datalist(dataset, val_fraction=0.0)["training"]) == 10
    for fractions in ({"val_fraction": 1.0}, {"val_fraction": -0.1}, {"val_fraction": 0.6, "test_fraction": 0.4}):
        with pytest.raises(ValueError, match="fraction"):
            build_datalist(dataset, **fractions)
    with pytest.raises(ValueError, match="training sample"):
        build_datalist(dataset, val_fraction=0.5, test_fraction=0.47)


def test_png_dataset_has_no_spacing():
    datalist = build_datalist(SAMPLES / "dsb2018_stage1_train", val_fraction=0.25)
    assert len(datalist["validation"]) == 30 and len(datalist["training"]) == 90
    assert all(item["spacing"] is None for item in datalist["training"])


def test_write_load_and_monai_loader_agree(dataset, tmp_path):
    from monai.data import load_decathlon_datalist

    datalist = build_datalist(dataset, val_fraction=0.3)
    path = dataset / "datalist.json"
    write_datalist(path, datalist)
    assert json.loads(path.read_text()) == datalist
    assert [name for name in os.listdir(dataset) if name.startswith(".")] == []
    for section in ("training", "validation"):
        ours = load_datalist(path, section)
        assert all(os.path.isabs(item["image"]) and os.path.isfile(item["image"]) for item in ours)
        assert ours == load_decathlon_datalist(path, data_list_key=section, base_dir=dataset)
    moved = tmp_path / "elsewhere" / "list.json"
    moved.parent.mkdir()
    shutil.copy(path, moved)
    assert load_datalist(moved, "training", base_dir=dataset) == load_datalist(path, "training")


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="none.json"):
        load_datalist(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json.*JSON"):
        load_datalist(tmp_path / "bad.json")
    (tmp_path / "d.json").write_text(json.dumps({"training": [{"image": "a.tif"}], "test": ["b.tif"]}))
    with pytest.raises(ValueError, match=r"'validation'.*\['training', 'test'\]"):
        load_datalist(tmp_path / "d.json", "validation")
    assert load_datalist(tmp_path / "d.json", "test") == [{"image": str(tmp_path / "b.tif")}]


def test_stratified_split_keeps_group_proportions(tmp_path):
    root = tmp_path / "strat"
    groups = {}
    for index in range(40):
        sample_id = f"s{index:02d}"
        write_image(root / "images" / f"{sample_id}.tif", np.zeros((4, 4), np.uint8))
        groups[sample_id] = "big" if index < 30 else ("small" if index < 38 else "rare")
    datalist = build_datalist(root, val_fraction=0.1, test_fraction=0.2, seed=1, strata=groups)
    per_section = {
        section: sorted(groups[stem] for stem in _ids(datalist[section])) for section in ("training", "validation", "test")
    }
    # rounded shares within each group: big 30 -> 6 test / 3 val, small 8 -> 2 / 1, rare 2 -> 0 / 0
    assert per_section["test"] == ["big"] * 6 + ["small"] * 2
    assert per_section["validation"] == ["big"] * 3 + ["small"] * 1
    assert per_section["training"].count("rare") == 2
    assert sum(len(datalist[section]) for section in ("training", "validation", "test")) == 40
    again = build_datalist(root, val_fraction=0.1, test_fraction=0.2, seed=1, strata=groups)
    assert again == datalist
    other = build_datalist(root, val_fraction=0.1, test_fraction=0.2, seed=2, strata=groups)
    assert _ids(other["test"]) != _ids(datalist["test"])


def test_stratified_split_rejects_bad_fractions(dataset):
    with pytest.raises(ValueError, match="val_fraction"):
        build_datalist(dataset, val_fraction=1.2, strata={})


def test_given_test_ids_form_the_test_section(dataset):
    datalist = build_datalist(dataset, val_fraction=0.25, seed=1, test_ids={"s03", "s07"})
    assert _ids(datalist["test"]) == ["s03", "s07"]
    assert len(datalist["validation"]) == 2  # 25 % of the eight others
    rest = _ids(datalist["training"]) + _ids(datalist["validation"])
    assert sorted(rest) == [f"s{index:02d}" for index in range(10) if index not in (3, 7)]
    assert datalist == build_datalist(dataset, val_fraction=0.25, seed=1, test_ids=["s07", "s03"])
    with pytest.raises(ValueError, match="test_ids not found in images/: nope"):
        build_datalist(dataset, test_ids={"s03", "nope"})
    with pytest.raises(ValueError, match="leave test_fraction at 0"):
        build_datalist(dataset, test_fraction=0.1, test_ids={"s03"})
