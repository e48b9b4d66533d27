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
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from monai.transforms import Compose

from cellbundles.io import read_image, write_image
from cellbundles.metrics import dice, match_instances, object_overlap_prf

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
@pytest.mark.parametrize("tta, instance_f1", [("none", 0.75), ("flips", 0.875)])
def test_evaluate_scores_the_written_outputs_on_the_input_grid(qcanet, tmp_path, tta, instance_f1):
    """The shipped weights on the QCANet embryo: the scores are those of the written instances and mask against
    the label file. In one pass, two of the 8 nuclei pass IoU 0.5 on the network grid the volume is resampled to
    that do not on the input grid (instance F1 0.875 there against 0.750); the mean of the 4 mirror images (the
    default) brings one of them over 0.5 on the input grid."""
    args = ["run", "--config_file", EVALUATE, "--bundle_root", ".", "--dataset_dir", str(qcanet), "--tta", tta]
    run_monai_bundle(*args, "--output_dir", str(tmp_path), *QCANET_SPACING, cwd=BUNDLE)
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    labels = read_image(qcanet / "labels" / "8_cell_stage.tif")[0].astype(np.int64)
    instances = read_image(tmp_path / "8_cell_stage_instances.tif")[0].astype(np.int64)
    mask = read_image(tmp_path / "8_cell_stage_mask.tif")[0] > 0
    objects = object_overlap_prf(labels, instances, 0.5, 50)
    assert metrics["val_object_f1"] == pytest.approx(objects.f1, abs=1e-6)
    assert metrics["val_instance_f1"] == pytest.approx(match_instances(labels, instances, 0.5).f1, abs=1e-6)
    assert metrics["val_instance_f1"] == pytest.approx(instance_f1)
    assert metrics["val_dice"] == pytest.approx(dice(labels > 0, mask), abs=1e-5)


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


def _parsed(config: str, overrides: dict, *ids: str) -> list:
    parser = ConfigParser()
    parser.read_config(str(BUNDLE / config))
    parser.update(overrides)
    return [parser.get_parsed_content(i) for i in ids]


def _touching_prediction() -> dict:
    """A decollated SegShapeNet output: two boxes of M1 logit 4 with a 2-voxel seam of logit -1 (probability 0.27)."""
    seg = np.full((12, 24, 40), -6.0, np.float32)
    seg[2:10, 4:20, 4:19], seg[2:10, 4:20, 21:36], seg[2:10, 4:20, 19:21] = 4.0, 4.0, -1.0
    return {"pred": MetaTensor(torch.from_numpy(np.stack([seg, np.zeros_like(seg)])))}


def test_inference_grows_instances_back_over_the_seam_when_asked():
    (postprocessing,) = _parsed(INFERENCE, {"min_size": 1}, "shape_postprocessing")
    (grown_postprocessing,) = _parsed(INFERENCE, {"min_size": 1, "grow_voxels": 1}, "shape_postprocessing")
    plain = Compose(postprocessing)(_touching_prediction())
    grown = Compose(grown_postprocessing)(_touching_prediction())
    for out in (plain, grown):  # two nuclei either way; the probability stays for the growth, the mask is binary
        assert sorted(torch.unique(out["instances"]).tolist()) == [0, 1, 2]
        assert set(torch.unique(out["mask"]).tolist()) == {0, 1}
    plain_instances, grown_instances = plain["instances"][0].numpy(), grown["instances"][0].numpy()
    assert not plain_instances[:, :, 19:21].any() and (grown_instances[2:10, 4:20, 19:21] > 0).all()
    assert (grown_instances[plain_instances > 0] == plain_instances[plain_instances > 0]).all()
    assert not grown_instances[0].any() and (grown["mask"][0].numpy() >= (grown_instances > 0)).all()  # background stays


def test_training_targets_part_touching_nuclei_by_the_configured_seam():
    labels = np.zeros((6, 12, 20), np.uint16)
    labels[1:5, 2:10, 2:10], labels[1:5, 2:10, 10:18] = 1, 2
    item = {"label": MetaTensor(torch.from_numpy(labels)[None], affine=torch.diag(torch.tensor([1.75, 0.8, 0.8, 1.0])))}
    for gap_width, expected in ((0, labels > 0), (1, (labels > 0) & ((np.arange(20) < 9) | (np.arange(20) > 10)))):
        (targets,) = _parsed(TRAIN, {"gap_width": gap_width}, "target_transforms")
        out = Compose(targets)(dict(item))
        np.testing.assert_array_equal(out["label_binary"][0].numpy(), expected)


def test_training_zoom_scales_the_crops_and_all_their_targets_alike():
    (random_transforms,) = _parsed(TRAIN, {"zoom_prob": 1.0, "zoom_range": [1.5, 1.5], "samples_per_volume": 1,
                                           "patch_size": [60, 60, 60]}, "train#random_transforms")  # fmt: skip
    cube = np.zeros((1, 40, 40, 40), np.float32)
    cube[0, 10:30, 10:30, 10:30] = 1.0
    item = {key: torch.from_numpy(cube.copy()) for key in ("image", "label_binary", "contour", "shapemarker")}
    transforms = Compose(random_transforms[:3])  # the zoom, the pad, the crop: no flip or intensity change
    transforms.set_random_state(0)
    (out,) = transforms(item)
    for key in ("label_binary", "contour", "shapemarker"):
        assert out[key].sum() == pytest.approx(30**3, rel=0.05), key  # a 20^3 cube enlarged x1.5 (the crop: the whole 60^3)
        np.testing.assert_array_equal(out[key].numpy() > 0.5, out["image"].numpy() > 0.5)


def test_default_split_parts_nuclei_stacked_along_the_coarse_z_axis():
    """Two 15 um nuclei 13 um apart along z on the network grid (1.75 x 0.8 x 0.8 um): the default split, measured
    in um, parts them; the same split counted in voxels (release 0.1.0: h 2 voxels) saw one nucleus."""
    spacing = (1.75, 0.8, 0.8)
    grid = np.indices((24, 40, 40)).astype(float)
    inside = np.zeros(grid.shape[1:], bool)
    for z in (12 - 6.5 / spacing[0], 12 + 6.5 / spacing[0]):
        inside |= sum(((g - c) * s) ** 2 for g, c, s in zip(grid, (z, 20, 20), spacing)) <= 7.5**2
    seg = np.where(inside, 4.0, -4.0).astype(np.float32)
    counts = []
    for overrides in ({}, {"split_in_um": False, "split_h": 2.0}):
        (postprocessing,) = _parsed(INFERENCE, overrides, "shape_postprocessing")
        pred = MetaTensor(torch.from_numpy(np.stack([seg, np.zeros_like(seg)])), affine=torch.diag(torch.tensor([*spacing, 1.0])))
        counts.append(len(torch.unique(Compose(postprocessing)({"pred": pred})["instances"])) - 1)
    assert counts == [2, 1]


def test_default_split_is_relative_to_the_nucleus_size():
    """Two 15 um nuclei 9 um apart in-plane on the network grid (a dome of about 1.5 um above their neck), and
    the same voxels on a grid scaled to 3.75 um nuclei (spacing / 4, as ``ScaleToDiameterd`` resamples a volume of
    small nuclei): the default split measures on the network's ``model_spacing`` and parts both pairs; measured in
    the grid's own um (release 0.2.1) the 0.5 um ``split_h`` is deeper than the small pair's neck and sees one."""
    spacing = np.array([1.75, 0.8, 0.8])
    grid = np.indices((16, 32, 48)).astype(float)
    inside = np.zeros(grid.shape[1:], bool)
    for x in (24 - 4.5 / spacing[2], 24 + 4.5 / spacing[2]):
        inside |= sum(((g - c) * s) ** 2 for g, c, s in zip(grid, (8, 16, x), spacing)) <= 7.5**2
    seg = np.where(inside, 4.0, -4.0).astype(np.float32)
    split_index = 4  # shape_postprocessing: SplitDimd, Activationsd, CopyItemsd, AsDiscreted, InstancesFromBinaryd
    counts = []
    for scale, overrides in ((1.0, {}), (0.25, {}), (0.25, {f"shape_postprocessing#{split_index}#spacing": None})):
        (postprocessing,) = _parsed(INFERENCE, overrides, "shape_postprocessing")
        assert postprocessing[split_index].__class__.__name__ == "InstancesFromBinaryd"
        affine = torch.diag(torch.tensor([*(spacing * scale), 1.0]))
        pred = MetaTensor(torch.from_numpy(np.stack([seg, np.zeros_like(seg)])), affine=affine)
        counts.append(len(torch.unique(Compose(postprocessing)({"pred": pred})["instances"])) - 1)
    assert counts == [2, 2, 1]


def test_inference_and_evaluate_average_the_four_mirror_images_and_validation_one_pass():
    """``tta flips`` (default) in inference.json and evaluate.json: the mean over the x, y and xy mirror images of
    the sliding window (z untouched); the validation during training keeps one pass; ``tta none`` is one pass."""
    from monai.inferers import SlidingWindowInferer

    from cellbundles.engines import DihedralTTAInferer

    inference = ConfigParser()
    inference.read_config(str(BUNDLE / INFERENCE))
    inferer = inference.get_parsed_content("inferer")
    assert isinstance(inferer, DihedralTTAInferer) and len(inferer.views) == 4
    assert isinstance(inferer.inferer, SlidingWindowInferer) and tuple(inferer.inferer.roi_size) == (32, 64, 64)
    evaluate = ConfigParser()
    evaluate.read_config([str(BUNDLE / "configs" / "train.json"), str(BUNDLE / "configs" / "evaluate.json")])
    assert isinstance(evaluate.get_parsed_content("validate#inferer"), SlidingWindowInferer)
    assert evaluate["validate#evaluator#inferer"] == "@tta_inferer"
    assert len(evaluate.get_parsed_content("tta_inferer").views) == 4
    evaluate["tta"] = "none"
    assert len(evaluate.get_parsed_content("tta_inferer", lazy=False).views) == 1
