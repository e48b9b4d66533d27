"""scripts/make_datalist.py: a fixed, stratified split of a folder with a manifest, loadable by the bundles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from cellbundles.data import load_datalist
from cellbundles.io import write_image

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_datalist.py"


def _dataset(root: Path) -> None:
    samples = []
    for index in range(30):
        sample_id = f"img{index:02d}"
        modality, size = ("fluorescence", 8) if index < 20 else ("color_stain", 12)
        write_image(root / "images" / f"{sample_id}.png", np.zeros((size, size), np.uint8))
        write_image(root / "labels" / f"{sample_id}.png", np.zeros((size, size), np.uint16))
        samples.append({"id": sample_id, "modality_guess": modality, "height": size, "width": size})
    (root / "manifest.json").write_text(json.dumps({"samples": samples}))


def test_writes_a_stratified_datalist(tmp_path):
    root = tmp_path / "data"
    _dataset(root)
    output = tmp_path / "split.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--dataset_dir", str(root), "--output", str(output), "--val_fraction", "0.1",
         "--test_fraction", "0.2", "--stratify"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "training 21, validation 3, test 6" in result.stdout
    test_items = load_datalist(output, "test", base_dir=root)
    stems = sorted(Path(item["image"]).stem for item in test_items)
    assert sum(stem < "img20" for stem in stems) == 4 and len(stems) == 6  # 20 % of each group
    assert all(Path(item["label"]).is_file() for item in test_items)
    assert "stratified" in json.loads(output.read_text())["description"]


def test_stratify_without_manifest_names_the_file(tmp_path):
    root = tmp_path / "data"
    write_image(root / "images" / "a.png", np.zeros((4, 4), np.uint8))
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--dataset_dir", str(root), "--output", str(tmp_path / "o.json"), "--stratify"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "manifest.json" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "o.json").exists()


def test_repeat_training_lists_a_rare_type_more_often_and_keeps_the_split(tmp_path):
    root = tmp_path / "data"
    _dataset(root)
    plain, repeated = tmp_path / "plain.json", tmp_path / "repeated.json"
    common = [sys.executable, str(SCRIPT), "--dataset_dir", str(root), "--val_fraction", "0.1", "--test_fraction", "0.2", "--stratify"]
    for output, extra in ((plain, []), (repeated, ["--repeat_training", "color_stain=3"])):
        result = subprocess.run([*common, "--output", str(output), *extra], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
    plain, repeated = json.loads(plain.read_text()), json.loads(repeated.read_text())
    assert repeated["validation"] == plain["validation"] and repeated["test"] == plain["test"]
    counts = {}
    for item in repeated["training"]:
        counts[item["image"]] = counts.get(item["image"], 0) + 1
    assert set(counts) == {item["image"] for item in plain["training"]}
    assert {count for image, count in counts.items() if Path(image).stem >= "img20"} == {3}  # the 7 stained images
    assert {count for image, count in counts.items() if Path(image).stem < "img20"} == {1}
    assert len(repeated["training"]) == 14 + 3 * 7 and "repeated: color_stain=3" in repeated["description"]
    bad = subprocess.run([*common, "--output", str(tmp_path / "bad.json"), "--repeat_training", "color_stain"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert bad.returncode == 1 and "MODALITY=N" in bad.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "bad.json").exists()
