"""End-to-end tests of the ``nuclei_recyclegan_3d`` bundle, run the way users run it (``python -m monai.bundle``).

A module-scoped fixture trains tiny networks (one epoch of two iterations on chunks of 4 slices of 32 x 32 voxels of
the vendored GoNuclear volume and of phantoms) once; the other tests resume that training, run inference with the
generator, check the metadata and the network's shapes, and export the generator to TorchScript.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cellbundles.io import read_image, read_labels, write_image

from bundle_cli import run_monai_bundle

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "bundles" / "nuclei_recyclegan_3d"
TRAIN = "configs/train.json"
INFERENCE = "configs/inference.json"
TINY_NETWORKS = ["--generator_features", "2"]
TINY_TRAINING = [*TINY_NETWORKS, "--predictor_features", "[2,4]", "--discriminator_features", "2"]
TINY_TRAINING += ["--num_slices", "3", "--slice_size", "[32,32]", "--epoch_length", "2"]
TINY_PHANTOMS = ["--n_samples", "2", "--phantom_shape", "[24,80,80]", "--crop_size", "40"]
SIX = ("g1", "g2", "p1", "p2", "d1", "d2")
REAL = REPO / "data" / "samples" / "gonuclear_ovule_3d" / "images"


def _monai_bundle(*args: str, cwd: Path = BUNDLE, **options) -> tuple[int, str]:
    return run_monai_bundle(*args, cwd=cwd, **options)


def _train(ckpt: Path, out: Path, max_epochs: int) -> str:
    args = ["run", "--config_file", TRAIN, "--bundle_root", ".", "--ckpt_dir", str(ckpt), "--output_dir", str(out)]
    return _monai_bundle(*args, "--dataset_dir", str(REAL), "--max_epochs", str(max_epochs), *TINY_TRAINING)[1]


def _network(model_file: Path) -> torch.nn.Module:
    """The bundle's ``network_def`` (the generator G1) with tiny widths and the weights of ``model_file``."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(BUNDLE / INFERENCE))
    parser["generator_features"] = 2
    network = parser.get_parsed_content("network_def")
    network.load_state_dict(torch.load(model_file, map_location="cpu", weights_only=True))
    return network.eval()


@pytest.fixture(scope="module")
def tiny_training(tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("recyclegan_train")
    paths = {"ckpt": root / "models", "eval": root / "eval"}
    return {**paths, "log": _train(paths["ckpt"], paths["eval"], 1)}


@pytest.fixture(scope="module")
def inference_run(tiny_training, tmp_path_factory) -> dict[str, object]:
    """Inference with the tiny generator on 2 phantoms it draws (24 x 80 x 80 voxels, 40^3 pairs)."""
    out = tmp_path_factory.mktemp("recyclegan_inference")
    args = ["run", "--config_file", INFERENCE, "--bundle_root", ".", "--ckpt_dir", str(tiny_training["ckpt"])]
    _, log = _monai_bundle(*args, "--output_dir", str(out), *TINY_NETWORKS, *TINY_PHANTOMS)
    return {"out": out, "log": log}


@pytest.mark.slow
def test_train_checkpoints_all_six_networks_the_generator_and_a_png(tiny_training):
    ckpt = tiny_training["ckpt"]
    assert sorted(p.name for p in ckpt.iterdir()) == ["checkpoint_epoch=1.pt", "model.pt"]
    checkpoint = torch.load(ckpt / "checkpoint_epoch=1.pt", map_location="cpu", weights_only=False)
    assert set(checkpoint) == {*SIX, "g_optimizer", "d_optimizer", "trainer"}
    assert checkpoint["trainer"]["iteration"] == 2
    weights = torch.load(ckpt / "model.pt", map_location="cpu", weights_only=True)
    assert weights.keys() == checkpoint["g1"].keys()
    log = tiny_training["log"]
    for term in ("gan_g1", "recycle_a", "recurrent_p2", "contour", "d1"):
        assert f" {term}: " in log
    assert [p.name for p in (tiny_training["eval"] / "samples").iterdir()] == ["epoch_0001.png"]
    assert list(tiny_training["eval"].glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_train_resumes_from_the_latest_checkpoint(tiny_training, tmp_path):
    ckpt = shutil.copytree(tiny_training["ckpt"], tmp_path / "models")
    log = _train(ckpt, tmp_path / "eval", 2)
    assert f"Restored all variables from {ckpt / 'checkpoint_epoch=1.pt'}" in log
    assert "Epoch: 1/2" not in log and "Epoch: 2/2, Iter: 2/2" in log
    checkpoint = torch.load(ckpt / "checkpoint_epoch=2.pt", map_location="cpu", weights_only=False)
    assert checkpoint["trainer"]["iteration"] == 4


@pytest.mark.slow
def test_inference_writes_paired_crops_in_the_canonical_layout_with_a_datalist(inference_run):
    out = inference_run["out"]
    stems = ["nuclei3d_gan_s0_000", "nuclei3d_gan_s0_001"]
    whole = sorted(f"{s}_{k}.tif" for s in stems for k in ("instances", "synthetic"))
    assert sorted(p.name for p in out.glob("*.tif")) == whole
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_images"] == 2
    # the contrast of I_syn between the phantom nuclei and their surround, a warning when it is not positive
    assert all(-1.0 <= image["nucleus_contrast"] <= 1.0 for image in summary["images"])
    pairs = out / "pairs"
    names = [f"{s}_{i:03d}.tif" for s in stems for i in range(4)]  # 24 x 80 x 80 -> 1 x 2 x 2 tiles of 24 x 40 x 40
    for folder in ("images", "labels", "contour", "shapemarker"):
        assert sorted(p.name for p in (pairs / folder).iterdir()) == sorted(names)
    datalist = json.loads((pairs / "datalist.json").read_text())
    items = datalist["training"] + datalist["validation"]
    assert len(items) == 8 and len(datalist["validation"]) == 2
    assert set(items[0]) == {"image", "label", "spacing", "contour", "shapemarker"}

    phantom_labels, _ = read_labels(out / "phantoms" / "labels" / f"{stems[1]}.tif")
    labels, spacing = read_labels(pairs / "labels" / f"{stems[1]}_003.tif")
    np.testing.assert_array_equal(labels, phantom_labels[:, 40:80, 40:80])
    assert spacing == pytest.approx((1.75, 0.8, 0.8))
    synthetic, _ = read_image(pairs / "images" / f"{stems[1]}_003.tif")
    assert synthetic.shape == (24, 40, 40) and 0.0 <= synthetic.min() and synthetic.max() <= 1.0
    marker, _ = read_image(pairs / "shapemarker" / f"{stems[1]}_003.tif")
    contour, _ = read_image(pairs / "contour" / f"{stems[1]}_003.tif")
    assert not marker[labels == 0].any() and not contour[labels == 0].any() and contour.any()


@pytest.mark.slow
def test_inference_on_a_folder_of_binary_volumes(tiny_training, tmp_path):
    """A float binary mask: its connected components become the instances."""
    volume = np.zeros((12, 48, 48), np.float32)
    volume[3:9, 5:20, 5:20] = 1.0
    volume[3:9, 25:40, 25:45] = 1.0
    write_image(tmp_path / "in" / "mask.tif", volume, (1.0, 0.5, 0.5))
    args = ["run", "--config_file", INFERENCE, "--bundle_root", ".", "--ckpt_dir", str(tiny_training["ckpt"])]
    args += ["--dataset_dir", str(tmp_path / "in"), "--output_dir", str(tmp_path / "out"), *TINY_NETWORKS]
    _monai_bundle(*args)
    instances, spacing = read_labels(tmp_path / "out" / "mask_instances.tif")
    assert sorted(np.unique(instances)) == [0, 1, 2] and spacing == pytest.approx((1.0, 0.5, 0.5))
    assert not (tmp_path / "out" / "phantoms").exists()
    datalist = json.loads((tmp_path / "out" / "pairs" / "datalist.json").read_text())
    assert [item["image"] for item in datalist["training"]] == ["images/mask_000.tif"]


@pytest.mark.slow
def test_network_matches_its_declared_inputs_and_outputs():
    _, log = _monai_bundle(
        "verify_net_in_out", "network", "--meta_file", "configs/metadata.json", "--config_file", INFERENCE,
        "--bundle_root", ".", "--n", "4", *TINY_NETWORKS,
    )  # fmt: skip
    assert "data shape of network is verified with no error" in log


@pytest.mark.slow
def test_torchscript_export_of_the_generator_matches_the_eager_network(tiny_training, tmp_path):
    exported, model_file = tmp_path / "model.ts", tiny_training["ckpt"] / "model.pt"
    _monai_bundle(
        "ckpt_export", "network_def", "--filepath", str(exported), "--ckpt_file", str(model_file),
        "--meta_file", "configs/metadata.json", "--config_file", INFERENCE, *TINY_NETWORKS,
    )  # fmt: skip
    scripted = torch.jit.load(str(exported), map_location="cpu").eval()
    image = torch.rand(2, 1, 36, 44, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        expected, got = _network(model_file)(image), scripted(image)
    assert got.shape == (2, 1, 36, 44)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_evaluate_compares_translated_labels_with_their_real_volume(tiny_training, tmp_path):
    """evaluate.json: G1 of each annotated volume's labels against the volume itself (MAE, PSNR in metrics.json)."""
    labels = np.zeros((12, 48, 48), np.uint16)
    labels[3:9, 5:20, 5:20], labels[3:9, 25:40, 25:45] = 1, 2
    image = (labels > 0) * 800.0 + 100.0 + np.random.default_rng(0).normal(0, 20, labels.shape)
    write_image(tmp_path / "data" / "images" / "vol.tif", image.astype(np.uint16), (1.0, 0.5, 0.5))
    write_image(tmp_path / "data" / "labels" / "vol.tif", labels, (1.0, 0.5, 0.5))
    pair = [{"image": "images/vol.tif", "label": "labels/vol.tif"}]
    (tmp_path / "data" / "datalist.json").write_text(json.dumps({"training": pair, "validation": pair}))
    args = ["run", "--config_file", "['configs/train.json','configs/evaluate.json']", "--bundle_root", "."]
    args += ["--dataset_dir", str(tmp_path / "data"), "--ckpt_dir", str(tiny_training["ckpt"])]
    _monai_bundle(*args, "--output_dir", str(tmp_path / "out"), *TINY_NETWORKS)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())["metrics"]
    assert 0.0 <= metrics["val_mean_abs_error"] <= 1.0 and np.isfinite(metrics["val_psnr"])


@pytest.mark.slow
def test_training_checks_the_labels_of_a_datalist_and_trains_without_them(tmp_path):
    """A datalist of annotated volumes: their labels are checked like every bundle's, the GAN itself needs none."""
    real = sorted(REAL.iterdir())[0]
    items = [{"image": str(real)}]
    (tmp_path / "datalist.json").write_text(json.dumps({"training": items, "validation": items}))
    args = ["run", "--config_file", TRAIN, "--bundle_root", ".", "--data_source", "datalist"]
    args += ["--dataset_dir", str(tmp_path), "--ckpt_dir", str(tmp_path / "models")]
    args += ["--output_dir", str(tmp_path / "out")]
    _, log = _monai_bundle(*args, "--max_epochs", "1", *TINY_TRAINING)
    assert "Epoch: 1/1, Iter: 2/2" in log and (tmp_path / "models" / "model.pt").is_file()
