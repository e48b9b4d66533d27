"""End-to-end tests of the ``nuclei_shape_3d`` bundle, run the way users run it (``python -m monai.bundle``).

A module-scoped fixture makes the training data the way the method does: ``nuclei_recyclegan_3d``'s inference
(its shipped generator) translates 2 small phantoms and writes 8 paired 40^3 crops with a datalist; the shape
bundle trains tiny networks on that datalist for two iterations. The other tests resume that training, run
inference and evaluation with it on the vendored QCANet embryo (whose file has no voxel size: ``--input_spacing``),
and serve it through MONAI Label's ``BundleInferTask``.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cellbundles.io import read_image, write_image

from bundle_cli import run_monai_bundle

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "bundles" / "nuclei_shape_3d"
GAN_BUNDLE = REPO / "bundles" / "nuclei_recyclegan_3d"
QCANET = REPO / "data" / "samples" / "qcanet_mouse_embryo_3d"
QCANET_SPACING = ["--input_spacing", "[1.75,0.8,0.8]"]
TRAIN = "configs/train.json"
EVALUATE = "['configs/train.json','configs/evaluate.json']"
INFERENCE = "configs/inference.json"
TINY_WIDTHS = ["--features", "[2,2,2,2,2,2]"]
TINY_TRAINING = [*TINY_WIDTHS, "--epoch_length", "2", "--val_interval", "1", "--samples_per_volume", "1"]
TINY_TRAINING += ["--patch_size", "[16,32,32]"]
OUTPUTS = ("instances.tif", "mask.tif", "contours.tif", "shape.tif", "centroids.csv", "overlay.png")


def _train(pairs: Path, ckpt: Path, out: Path, max_epochs: int) -> str:
    args = ["run", "--config_file", TRAIN, "--bundle_root", ".", "--dataset_dir", str(pairs), "--ckpt_dir", str(ckpt)]
    return run_monai_bundle(*args, "--output_dir", str(out), "--max_epochs", str(max_epochs), *TINY_TRAINING, cwd=BUNDLE)[1]


@pytest.fixture(scope="module")
def gan_pairs(tmp_path_factory) -> Path:
    """The pairs dataset of ``nuclei_recyclegan_3d``'s inference (shipped G1, 2 phantoms of 24 x 80 x 80 voxels)."""
    out = tmp_path_factory.mktemp("gan_pairs")
    args = ["run", "--config_file", "configs/inference.json", "--bundle_root", ".", "--output_dir", str(out)]
    run_monai_bundle(*args, "--n_samples", "2", "--phantom_shape", "[24,80,80]", "--crop_size", "40", cwd=GAN_BUNDLE)
    return out / "pairs"


@pytest.fixture(scope="module")
def tiny_training(gan_pairs, tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("shape_train")
    paths = {"ckpt": root / "models", "eval": root / "eval"}
    return {**paths, "log": _train(gan_pairs, paths["ckpt"], paths["eval"], 1)}


@pytest.fixture(scope="module")
def qcanet(tmp_path_factory) -> Path:
    """The vendored QCANet embryo as an annotated dataset (images/, labels/, datalist.json)."""
    root = tmp_path_factory.mktemp("qcanet")
    for sub in ("images", "labels"):
        (root / sub).mkdir()
        shutil.copy(QCANET / sub / "8_cell_stage.tif", root / sub)
    pair = [{"image": "images/8_cell_stage.tif", "label": "labels/8_cell_stage.tif"}]
    (root / "datalist.json").write_text(json.dumps({"training": pair, "validation": pair}))
    return root


@pytest.mark.slow
def test_training_on_the_gan_pairs_checkpoints_and_validates(gan_pairs, tiny_training):
    datalist = json.loads((gan_pairs / "datalist.json").read_text())
    assert len(datalist["training"]) == 6 and len(datalist["validation"]) == 2
    log = tiny_training["log"]
    assert "Epoch: 1/1, Iter: 2/2" in log and "val_object_f1" in log and "val_instance_f1" in log
    ckpt = tiny_training["ckpt"]
    assert sorted(p.name for p in ckpt.iterdir()) == ["checkpoint_epoch=1.pt", "model.pt"]
    checkpoint = torch.load(ckpt / "checkpoint_epoch=1.pt", map_location="cpu", weights_only=False)
    assert checkpoint["trainer"]["iteration"] == 2
    weights = torch.load(ckpt / "model.pt", map_location="cpu", weights_only=True)
    assert {key.split(".")[0] for key in weights} == {"segmentation", "shape"}  # M1 and M2


@pytest.mark.slow
def test_training_resumes_from_the_latest_checkpoint(gan_pairs, tiny_training, tmp_path):
    ckpt = shutil.copytree(tiny_training["ckpt"], tmp_path / "models")
    log = _train(gan_pairs, ckpt, tmp_path / "eval", 2)
    assert f"Restored all variables from {ckpt / 'checkpoint_epoch=1.pt'}" in log
    assert "Epoch: 1/2" not in log and "Epoch: 2/2, Iter: 2/2" in log
    checkpoint = torch.load(ckpt / "checkpoint_epoch=2.pt", map_location="cpu", weights_only=False)
    assert checkpoint["trainer"]["iteration"] == 4


@pytest.mark.slow
def test_inference_writes_instances_shape_classes_and_a_summary_with_the_voxel_size(tiny_training, qcanet, tmp_path):
    args = ["run", "--config_file", INFERENCE, "--bundle_root", ".", "--dataset_dir", str(qcanet / "images")]
    args += ["--ckpt_dir", str(tiny_training["ckpt"]), "--output_dir", str(tmp_path), *TINY_WIDTHS, *QCANET_SPACING]
    run_monai_bundle(*args, "--mask_threshold", "0.0", cwd=BUNDLE)  # threshold 0: the untrained network finds nuclei
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["summary.json", *(f"8_cell_stage_{k}" for k in OUTPUTS)])
    image, _ = read_image(qcanet / "images" / "8_cell_stage.tif")
    instances, spacing = read_image(tmp_path / "8_cell_stage_instances.tif")
    assert instances.shape == image.shape and spacing == pytest.approx((1.75, 0.8, 0.8))
    with open(tmp_path / "8_cell_stage_centroids.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["id", "z", "y", "x", "z_um", "y_um", "x_um", "label", "shape_class", "shape_score"]
    assert {row["shape_class"] for row in rows} <= {"round", "elongated"}
    assert sorted(int(row["label"]) for row in rows) == sorted(np.unique(instances[instances > 0]).tolist())
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_images"] == 1 and summary["images"][0]["n_centroids"] == len(rows)


@pytest.mark.slow
def test_evaluate_writes_the_seeds_object_scores_and_instance_metrics(tiny_training, qcanet, tmp_path):
    args = ["run", "--config_file", EVALUATE, "--bundle_root", ".", "--dataset_dir", str(qcanet)]
    args += ["--ckpt_dir", str(tiny_training["ckpt"]), "--output_dir", str(tmp_path), *TINY_WIDTHS, *QCANET_SPACING]
    run_monai_bundle(*args, cwd=BUNDLE)
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    for name in ("val_object_f1", "val_object_precision", "val_object_recall", "val_instance_f1", "val_dice"):
        assert 0.0 <= metrics[name] <= 1.0, name
    assert (tmp_path / "8_cell_stage_instances.tif").is_file() and (tmp_path / "8_cell_stage_centroids.csv").is_file()


@pytest.mark.slow
def test_monai_label_serves_the_bundle_on_the_image_grid(tiny_training, tmp_path):
    pytest.importorskip("monailabel")
    from cellbundles.label import CellBundleInferTask
    from cellbundles.label.server_app.main import is_servable
    from cellbundles.synth import nuclei3d

    bundle = shutil.copytree(BUNDLE, tmp_path / "bundle", ignore=shutil.ignore_patterns("eval", "models"))
    config = json.loads((bundle / INFERENCE).read_text())
    (bundle / INFERENCE).write_text(json.dumps({**config, "features": [2] * 6, "mask_threshold": 0.0}, indent=4))
    (bundle / "models").mkdir()
    shutil.copy(tiny_training["ckpt"] / "model.pt", bundle / "models" / "model.pt")
    assert is_servable(bundle)
    spacing = (1.75, 0.8, 0.8)
    phantom = nuclei3d(shape=(24, 48, 48), spacing=spacing, seed=np.random.SeedSequence([7, 0]))
    write_image(tmp_path / "phantom.tif", phantom["image"], spacing)
    task = CellBundleInferTask(str(bundle), conf={})
    assert task.is_valid() and task.dimension == 3 and task.labels == {"nucleus": 1}
    label_file, result = task({"image": str(tmp_path / "phantom.tif"), "device": "cpu"})
    label, label_spacing = read_image(label_file)
    assert label.shape == (24, 48, 48) and label_spacing == pytest.approx(spacing)
    assert result["nuclei"] == len(np.unique(label[label > 0]))
