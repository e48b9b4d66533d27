"""The DSB2018 images of the README demo (and of MONAI Label's default studies) are held out of the training and model selection of both 2D bundles'
shipped weights, so the accuracy the figure prints is a held-out figure."""

from __future__ import annotations

import json
from pathlib import Path

from cellbundles.data.samples import DSB_HELD_OUT_IMAGES, SAMPLES_DIR

REPO = Path(__file__).resolve().parents[2]


def _stems(datalist: Path, sections: tuple[str, ...]) -> set[str]:
    data = json.loads(datalist.read_text())
    return {Path(item["image"]).name.split(".")[0] for section in sections for item in data[section]}


def test_demo_images_are_held_out_of_both_2d_bundles():
    images = set(DSB_HELD_OUT_IMAGES)
    assert len(images) == 4
    full = REPO / "data" / "splits" / "dsb2018_stage1_train_full.json"
    assert images <= _stems(full, ("test",))
    assert not images & _stems(full, ("training", "validation"))
    subset = REPO / "bundles" / "nuclei_semantic_2d" / "configs" / "datalist.json"
    assert not images & _stems(subset, ("training", "validation"))
    assert all((SAMPLES_DIR / "dsb2018_stage1_train" / "images" / f"{stem}.png").is_file() for stem in images)
