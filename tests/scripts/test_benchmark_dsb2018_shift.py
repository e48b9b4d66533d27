"""scripts/benchmark_dsb2018_shift.py: the alterations of the test images and the altered dataset it writes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from benchmark_dsb2018_shift import alter, markdown, write_altered_dataset  # noqa: E402

SAMPLES = REPO / "data" / "samples" / "dsb2018_stage1_train"


def _image_and_labels() -> tuple[np.ndarray, np.ndarray]:
    labels = np.zeros((40, 60), np.uint16)
    labels[5:15, 5:15], labels[20:34, 30:50] = 1, 2
    image = np.full((40, 60, 3), 20, np.uint8)
    image[labels > 0] = 200
    return image, labels


@pytest.mark.parametrize("alteration, shape", [("half size", (20, 30)), ("double size", (80, 120)), ("none", (40, 60))])
def test_resizing_keeps_image_and_labels_on_one_grid(alteration, shape):
    image, labels = _image_and_labels()
    new_image, new_labels = alter(image, labels, alteration, np.random.default_rng(0))
    assert new_image.shape == shape + (3,) and new_image.dtype == np.uint8
    assert new_labels.shape == shape and set(np.unique(new_labels)) == {0, 1, 2}
    # nucleus areas scale with the square of the factor
    factor = shape[0] / 40
    assert (new_labels == 2).sum() == pytest.approx((labels == 2).sum() * factor**2, rel=0.1)
    assert new_image[new_labels == 2].mean() > 150 and new_image[new_labels == 0].mean() < 60


def test_noise_and_dimming_change_only_the_image():
    image, labels = _image_and_labels()
    noisy, noisy_labels = alter(image, labels, "noise", np.random.default_rng(0))
    # 10 % of the image's own range (20 -> 200: 180 grey levels), the same in every colour channel
    assert 15 < (noisy.astype(float) - image).std() < 21 and (noisy_labels == labels).all()
    assert (noisy[..., 0] == noisy[..., 1]).all() and (noisy[..., 1] == noisy[..., 2]).all()
    rgba = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    noisy_rgba = alter(rgba, labels, "noise", np.random.default_rng(0))[0]
    assert (noisy_rgba[..., 3] == 255).all() and (noisy_rgba[..., :3] != rgba[..., :3]).any()
    dim, dim_labels = alter(image, labels, "dim", np.random.default_rng(0))
    assert dim.max() == 50 and dim.min() == 5 and (dim_labels == labels).all()
    with pytest.raises(ValueError, match="unknown alteration"):
        alter(image, labels, "blur", np.random.default_rng(0))


def test_altered_dataset_is_in_the_canonical_layout(tmp_path):
    datalist = REPO / "bundles" / "nuclei_resunet_2d" / "configs" / "datalist.json"
    sections = json.loads(datalist.read_text())
    small = tmp_path / "datalist.json"
    small.write_text(json.dumps({"test": sections["test"][:2]}))
    written = write_altered_dataset(SAMPLES, small, "half size", tmp_path / "altered")
    test = json.loads(written.read_text())["test"]
    assert len(test) == 2
    for item, original in zip(test, sections["test"][:2]):
        assert Path(item["image"]).name == Path(original["image"]).name
        assert (tmp_path / "altered" / item["image"]).is_file() and (tmp_path / "altered" / item["label"]).is_file()
    assert "samples" in json.loads((tmp_path / "altered" / "manifest.json").read_text())


def test_report_marks_the_better_method():
    scores = {t: {"accuracy_iou0.5": 0.7, "dsb_score": 0.5, "n_images": 58} for t in ("fluorescence", "color_stain", "brightfield", "all")}
    worse = {t: {**s, "accuracy_iou0.5": 0.6} for t, s in scores.items()}
    text = markdown({"noise": {"resunet_split": scores, "classical": worse}})
    assert "| noise | **0.700** / 0.600 |" in text


def test_report_names_the_network_row_it_scored():
    scores = {t: {"accuracy_iou0.5": 0.5, "dsb_score": 0.4, "n_images": 58} for t in ("fluorescence", "color_stain", "brightfield", "all")}
    better = {t: {**s, "accuracy_iou0.5": 0.6} for t, s in scores.items()}
    text = markdown({"half size": {"maskrcnn": scores, "classical": better}}, "maskrcnn")
    assert "`nuclei_maskrcnn_2d`" in text and "| half size | 0.500 / **0.600** |" in text
