"""scripts/prepare_segdet_data.py: the sections of the segdet training folder and the repeated real volumes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _main(*args: str) -> int:
    sys.path.insert(0, str(SCRIPTS))
    try:
        import prepare_segdet_data
    finally:
        sys.path.remove(str(SCRIPTS))
    return prepare_segdet_data.main(list(args))


def test_real_training_volumes_are_listed_real_repeats_times(tmp_path):
    out = tmp_path / "segdet"
    assert _main("--out", str(out), "--n_phantoms", "2", "--real_repeats", "3") == 0
    datalist = json.loads((out / "datalist.json").read_text())
    training = [item["image"] for item in datalist["training"]]
    # without BBBC050 the GoNuclear low-x half is the only real training volume; the phantoms appear once
    assert training.count("real/gonuclear_halves/images/1135_low_x.tif") == 3
    phantoms = [image for image in training + [i["image"] for i in datalist["validation"]] if image.startswith("phantoms/")]
    assert len(phantoms) == len(set(phantoms)) == 2
    assert sorted(item["image"] for item in datalist["test"]) == [
        "real/gonuclear_halves/images/1135_high_x.tif", "real/qcanet/images/8_cell_stage.tif"]  # fmt: skip
    assert "listed 3 times" in datalist["description"]
    for item in datalist["training"] + datalist["test"]:
        assert (out / item["image"]).is_file() and (out / item["label"]).is_file()


def test_negative_real_repeats_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _main("--out", str(tmp_path / "segdet"), "--real_repeats", "-1")
    assert "--real_repeats must be at least 0, got -1" in capsys.readouterr().err
    assert not (tmp_path / "segdet").exists()


def test_phantoms_only_with_the_blurred_settings(tmp_path):
    out = tmp_path / "segdet"
    assert _main("--out", str(out), "--n_phantoms", "2", "--real_repeats", "0", "--blurred_per_setting", "1") == 0
    datalist = json.loads((out / "datalist.json").read_text())
    training = [item["image"] for item in datalist["training"]]
    assert not [image for image in training if image.startswith("real/")]
    blurred = sorted(image for image in training if image.startswith("phantoms_blur/"))
    assert len(blurred) == 8 and len({Path(image).parts[1] for image in blurred}) == 8
    for image in blurred:  # each setting's ratio and packing were drawn as fixed
        setting = Path(image).parts[1]
        params = json.loads(next((out / "phantoms_blur" / setting / "params").glob("*.json")).read_text())
        assert setting == f"r{params['psf_axial_ratio']}_p{params['packing']}"
        assert (out / image).is_file()
    assert {setting.split("_")[0] for setting in (Path(i).parts[1] for i in blurred)} == {"r2.5", "r3.0", "r3.5", "r4.0"}
    assert len(datalist["test"]) == 2  # the held-out real volumes stay in the test section
