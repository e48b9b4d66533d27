"""The pure parts of the MONAI Label tasks: training splits, key metrics, uncertainty scores, the strategy, bundle lookup."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monailabel")

from cellbundles.label.activelearning import MostUncertain, centroid_uncertainty, mirror_disagreement  # noqa: E402
from cellbundles.label.server_app.main import bundle_folders, is_servable  # noqa: E402
from cellbundles.label.train import key_metric_name, link_dataset, split_labelled  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _items(n: int) -> list[dict[str, str]]:
    return [{"image": f"/s/{i}.png", "label": f"/s/labels/final/{i}.png"} for i in reversed(range(n))]


def test_split_labelled_keeps_at_least_one_validation_and_one_training_image():
    with pytest.raises(ValueError, match="no labelled image in the datastore"):
        split_labelled([], 0.2)
    training, validation, same = split_labelled(_items(1), 0.2)
    assert training == validation and same
    training, validation, same = split_labelled(_items(2), 0.2)
    assert [item["image"] for item in training] == ["/s/0.png"] and [item["image"] for item in validation] == ["/s/1.png"]
    assert not same
    training, validation, _ = split_labelled(_items(10), 0.2)
    assert len(training) == 8 and len(validation) == 2
    training, validation, _ = split_labelled(_items(3), 0.9)
    assert len(training) == 1 and len(validation) == 2


def test_key_metric_is_the_evaluate_config_key_metric():
    assert key_metric_name(REPO / "bundles" / "nuclei_resunet_2d") == "test_pixel_iou"
    assert key_metric_name(REPO / "bundles" / "nuclei_maskrcnn_2d") == "test_mask_ap"
    assert key_metric_name(REPO / "bundles" / "nuclei_segdet_3d").startswith("val_")


def test_centroid_uncertainty():
    assert centroid_uncertainty(np.array([]), 4.0) == 1.0
    assert centroid_uncertainty(np.array([1.0, 2.0]), 4.0) == pytest.approx(0.375)
    assert centroid_uncertainty(np.array([np.inf, 0.0]), 4.0) == pytest.approx(0.5)


def test_mirror_disagreement():
    a = np.zeros((10, 10), np.int32)
    a[1:4, 1:4], a[6:9, 6:9] = 1, 2
    assert mirror_disagreement(a, a) == 0.0
    assert mirror_disagreement(np.zeros_like(a), np.zeros_like(a)) == 1.0
    half = a.copy()
    half[half == 2] = 0
    assert mirror_disagreement(a, half) == pytest.approx(1 - 2 / 3)  # tp 1, fn 1: F1 2/3


class _Datastore:
    def __init__(self, info: dict[str, dict]) -> None:
        self.info = info

    def get_unlabeled_images(self, label_tag=None, labels=None):
        return list(self.info)

    def get_image_info(self, image):
        return self.info[image]


def test_most_uncertain_serves_the_highest_score():
    strategy = MostUncertain("u")
    assert strategy({}, _Datastore({})) is None
    assert strategy({}, _Datastore({"a": {}, "b": {}})) == {"id": "a", "u": None}
    assert strategy({}, _Datastore({"a": {"u": 0.2}, "b": {"u": 0.7}, "c": {}})) == {"id": "b", "u": 0.7}


def test_bundle_folders(tmp_path):
    for name in ("b_2d", "a_3d"):
        (tmp_path / name / "configs").mkdir(parents=True)
        (tmp_path / name / "configs" / "metadata.json").write_text("{}")
    (tmp_path / "not_a_bundle").mkdir()
    assert [path.name for path in bundle_folders(tmp_path)] == ["a_3d", "b_2d"]
    assert [path.name for path in bundle_folders(tmp_path, "b_2d")] == ["b_2d"]
    with pytest.raises(ValueError, match=r"no bundle c_2d; it holds a_3d, b_2d"):
        bundle_folders(tmp_path, "b_2d, c_2d")


def test_a_bundle_is_served_with_weights_and_a_segmentation_output(tmp_path):
    import json

    (tmp_path / "configs").mkdir()
    (tmp_path / "models").mkdir()
    metadata = {"network_data_format": {"outputs": {"pred": {"format": "instance segmentation"}}}}
    (tmp_path / "configs" / "metadata.json").write_text(json.dumps(metadata))
    assert not is_servable(tmp_path)  # no weights
    (tmp_path / "models" / "model.pt").write_bytes(b"")
    assert is_servable(tmp_path)
    metadata["network_data_format"]["outputs"]["pred"]["format"] = "magnitude"  # e.g. a GAN's images
    (tmp_path / "configs" / "metadata.json").write_text(json.dumps(metadata))
    assert not is_servable(tmp_path)
    assert not is_servable(REPO / "bundles" / "nuclei_recyclegan_3d")
    assert is_servable(REPO / "bundles" / "nuclei_segdet_3d")
