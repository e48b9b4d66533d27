"""End-to-end tests of the ``cells_fpf_2d`` bundle, run as users run it (``python -m monai.bundle``).

Module-scoped fixtures write five 128 x 128 cells2d phantoms (through the config's own phantom writer),
train the stage-1 nucleus model for two iterations (``train.json`` + ``train_nucleus.json``) and then the
stage-2 FPF cell model for two iterations on its weights; the other tests resume stage 2, evaluate it on the
test phantom and run inference with it from a copy of the bundle folder.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage as scipy_ndimage

from cellbundles.errors import PREFIX
from cellbundles.io import read_image, write_image

from bundle_cli import run_monai_bundle, run_python

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "bundles" / "cells_fpf_2d"
TRAIN = "configs/train.json"
TRAIN_NUCLEUS = "['configs/train.json','configs/train_nucleus.json']"
EVALUATE = "['configs/train.json','configs/evaluate.json']"
TINY = ["--batch_size", "1", "--epoch_length", "2", "--detections_per_img", "20"]
PHANTOMS = ["--phantoms#n", "5", "--phantoms#shape", "[128, 128]", "--phantoms#n_cells", "5"]
PHANTOMS += ["--phantoms#val_fraction", "0.2", "--phantoms#test_fraction", "0.2"]


def _train(config: str, dataset: Path, root: Path, max_epochs: int, *extra: str) -> str:
    args = ["run", "--config_file", config, "--bundle_root", ".", "--dataset_dir", str(dataset), *PHANTOMS]
    args += ["--ckpt_dir", str(root / "models"), "--output_dir", str(root / "eval"), "--max_epochs", str(max_epochs)]
    return run_monai_bundle(*args, *TINY, *extra, cwd=BUNDLE)[1]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fpf_phantoms") / "phantoms"


@pytest.fixture(scope="module")
def nucleus_training(dataset, tmp_path_factory) -> dict[str, object]:
    """Stage 1: two iterations of the nucleus model on the nucleus channel and the nucleus labels."""
    root = tmp_path_factory.mktemp("fpf_nucleus")
    return {"root": root, "log": _train(TRAIN_NUCLEUS, dataset, root, 1)}


@pytest.fixture(scope="module")
def fpf_training(dataset, nucleus_training, tmp_path_factory) -> dict[str, object]:
    """Stage 2: two iterations of the FPF cell model with the frozen stage-1 pyramid."""
    root = tmp_path_factory.mktemp("fpf_cells")
    nucleus_weights = str(nucleus_training["root"] / "models" / "model.pt")
    log = _train(TRAIN, dataset, root, 1, "--nucleus_weights", nucleus_weights)
    return {"root": root, "log": log, "nucleus_weights": nucleus_weights}


def test_stage_1_trains_the_nucleus_model_on_the_nuclei(dataset, nucleus_training):
    root, log = nucleus_training["root"], nucleus_training["log"]
    assert "Iter: 2/2" in log and "Iter: 3/" not in log and "Key metric: val_mask_ap" in log
    assert (root / "models" / "model.pt").is_file()
    datalist = json.loads((dataset / "datalist.json").read_text())
    assert all("nuclei" in item for item in datalist["training"])
    state = torch.load(root / "models" / "model.pt", weights_only=True)  # the best epoch: a plain state dict
    assert state["backbone.body.conv1.weight"].shape[1] == 1  # one input channel: the nucleus stain


def test_stage_2_trains_the_cell_model_and_keeps_the_nucleus_pyramid(fpf_training):
    root, log = fpf_training["root"], fpf_training["log"]
    assert "Iter: 2/2" in log and "Iter: 3/" not in log and "Key metric: val_mask_ap" in log
    nucleus = torch.load(fpf_training["nucleus_weights"], weights_only=True)
    fpf = torch.load(root / "models" / "checkpoint_epoch=1.pt", weights_only=True)["model"]
    pyramid = {key[len("backbone.nucleus.") :]: v for key, v in fpf.items() if key.startswith("backbone.nucleus.")}
    assert pyramid and all(torch.equal(v, nucleus[f"backbone.{key}"]) for key, v in pyramid.items())


def test_stage_2_warm_starts_from_the_nucleus_model_with_lateral_fusion(dataset, nucleus_training, tmp_path):
    nucleus_weights = str(nucleus_training["root"] / "models" / "model.pt")
    extra = ["--nucleus_weights", nucleus_weights, "--warm_start", "true", "--fusion_site", "lateral"]
    log = _train(TRAIN, dataset, tmp_path, 1, *extra, "--fusion", "concat")
    assert "Iter: 2/2" in log
    nucleus = torch.load(nucleus_weights, weights_only=True)
    fpf = torch.load(tmp_path / "models" / "checkpoint_epoch=1.pt", weights_only=True)["model"]
    assert {key.split(".")[2] for key in fpf if key.startswith("backbone.merge.")} == {"0", "1", "2", "3"}  # no P6
    copied = ("backbone.body.conv1.weight", "backbone.fpn.layer_blocks.0.0.weight", "roi_heads.mask_head.0.0.weight")
    for key in copied:
        start, trained = nucleus[key].float(), fpf[key.replace("backbone.", "backbone.cell.", 1)].float()
        assert (trained - start).norm() < 0.1 * start.norm()  # two small SGD steps away from the stage-1 weights


def test_stage_2_resumes_from_the_last_checkpoint(dataset, fpf_training, tmp_path_factory):
    root = tmp_path_factory.mktemp("fpf_resume")
    shutil.copytree(fpf_training["root"] / "models", root / "models")
    shutil.copytree(fpf_training["root"] / "eval", root / "eval")
    log = _train(TRAIN, dataset, root, 2, "--nucleus_weights", str(root / "missing.pt"))  # not read when resuming
    assert "Restored all variables from" in log and "checkpoint_epoch=1.pt" in log
    assert "Epoch: 2/2, Iter: 2/2" in log and "Epoch: 1/2" not in log
    assert (root / "models" / "checkpoint_epoch=2.pt").is_file()


def test_evaluate_writes_ap_and_instance_metrics(dataset, fpf_training, tmp_path):
    args = ["run", "--config_file", EVALUATE, "--bundle_root", ".", "--dataset_dir", str(dataset), *PHANTOMS]
    args += ["--ckpt_dir", str(fpf_training["root"] / "models"), "--output_dir", str(tmp_path), "--cell_rules", "true"]
    run_monai_bundle(*args, "--detections_per_img", "20", cwd=BUNDLE)
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    names = ("test_mask_ap", "test_mask_ap_coco", "test_box_ap", "test_accuracy_iou0.5", "test_dsb_score")
    assert all(0.0 <= metrics[name] <= 1.0 for name in names)
    assert len(list(tmp_path.glob("*_instances.tif"))) == 1 and len(list(tmp_path.glob("*_scores.csv"))) == 1


@pytest.mark.parametrize("cell_rules", ["false", "true"])
def test_inference_writes_instances_scores_overlay_and_summary(dataset, fpf_training, tmp_path, cell_rules):
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle, ignore=shutil.ignore_patterns("__pycache__", "eval", "models", "phantoms*"))
    (bundle / "models").mkdir()
    shutil.copy(fpf_training["root"] / "models" / "model.pt", bundle / "models" / "model.pt")
    image = sorted((dataset / "images").glob("*.tif"))[0]
    (tmp_path / "inputs").mkdir()
    shutil.copy(image, tmp_path / "inputs" / image.name)
    out = tmp_path / "out"
    args = ["run", "--config_file", "configs/inference.json", "--bundle_root", ".", "--dataset_dir", str(tmp_path / "inputs")]
    args += ["--output_dir", str(out), "--cell_rules", cell_rules, "--min_score", "0.0"]
    run_monai_bundle(*args, "--detections_per_img", "20", cwd=bundle)
    instances = read_image(out / f"{image.stem}_instances.tif")[0]
    assert instances.shape == (128, 128)
    with open(out / f"{image.stem}_scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    np.testing.assert_array_equal(np.unique(instances[instances > 0]), np.arange(1, len(rows) + 1))
    scores = [float(row["score"]) for row in rows]
    assert scores == sorted(scores, reverse=True)
    assert (out / f"{image.stem}_overlay.png").is_file()
    (entry,) = json.loads((out / "summary.json").read_text())["images"]
    assert entry["n_instances"] == len(rows)


@pytest.mark.parametrize(("diameter", "zoom"), [(None, 1.0), (84, 0.5), (21.0, 2.0), ("auto", "auto")])
def test_the_cell_diameter_sets_the_zoom_of_inference_and_evaluation(diameter, zoom):
    """``--cell_diameter_px D`` resizes every image by ``training_cell_diameter_px / D`` (null: own scale)."""
    from monai.bundle import ConfigParser

    for configs, inferer in ((["inference.json"], "inferer"), (["train.json", "evaluate.json"], "validate#inferer")):
        parser = ConfigParser()
        parser.read_config([str(BUNDLE / "configs" / name) for name in configs])
        parser.update({"bundle_root": str(BUNDLE), "cell_diameter_px": diameter})
        assert parser["training_cell_diameter_px"] == 42.0
        built = parser.get_parsed_content(inferer, instantiate=True)
        assert built.zoom == zoom and built.nucleus_diameter == 42.0


def test_inference_at_a_given_cell_diameter_returns_to_the_input_grid(dataset, fpf_training, tmp_path):
    image = sorted((dataset / "images").glob("*.tif"))[0]
    (tmp_path / "inputs").mkdir()
    shutil.copy(image, tmp_path / "inputs" / image.name)
    out = tmp_path / "out"
    args = ["run", "--config_file", "configs/inference.json", "--bundle_root", ".", "--dataset_dir", str(tmp_path / "inputs")]
    args += ["--ckpt_dir", str(fpf_training["root"] / "models"), "--output_dir", str(out), "--min_score", "0.0"]
    run_monai_bundle(*args, "--detections_per_img", "20", "--cell_diameter_px", "28", cwd=BUNDLE)  # zoom x1.5
    instances = read_image(out / f"{image.stem}_instances.tif")[0]
    assert instances.shape == (128, 128)
    with open(out / f"{image.stem}_scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    np.testing.assert_array_equal(np.unique(instances[instances > 0]), np.arange(1, len(rows) + 1))


def test_a_bad_cell_diameter_stops_before_any_output(dataset, tmp_path):
    image = sorted((dataset / "images").glob("*.tif"))[0]
    (tmp_path / "inputs").mkdir()
    shutil.copy(image, tmp_path / "inputs" / image.name)
    args = ["run", "--config_file", "configs/inference.json", "--bundle_root", ".", "--dataset_dir", str(tmp_path / "inputs")]
    code, log = run_monai_bundle(*args, "--output_dir", str(tmp_path / "out"), "--cell_diameter_px", "-3", cwd=BUNDLE, check=False)
    last = log.strip().splitlines()[-1]
    assert code != 0 and last.startswith(PREFIX) and "cell_diameter_px must be a positive number of pixels" in last
    assert not (tmp_path / "out").exists()


def test_a_single_channel_image_stops_with_the_file_name(fpf_training, tmp_path):
    path = tmp_path / "inputs" / "grey.tif"
    write_image(path, np.random.default_rng(0).integers(0, 1000, (64, 64)).astype(np.uint16))
    args = ["run", "--config_file", "configs/inference.json", "--bundle_root", ".", "--dataset_dir", str(path.parent)]
    args += ["--ckpt_dir", str(fpf_training["root"] / "models"), "--output_dir", str(tmp_path / "out")]
    code, log = run_monai_bundle(*args, cwd=BUNDLE, check=False)
    last = log.strip().splitlines()[-1]
    assert code != 0 and last.startswith(PREFIX) and str(path) in last
    assert "expected a 2-channel image stored as 2 planes (nucleus, cell)" in last and "single-channel" in last


def test_phantom_contact_dimming_reaches_the_cell_stain_only(tmp_path):
    """``phantoms#contact_dimming`` (0.3) is the generator's border dimming between touching cells: 0 changes the
    cell stain of the same phantoms (same seed) and leaves the nucleus stain and the labels as they were."""
    from monai.bundle import ConfigParser

    planes = {}
    for dimming in (0.3, 0.0):
        parser = ConfigParser()
        parser.read_config(str(BUNDLE / TRAIN))
        parser.update({"dataset_dir": str(tmp_path / str(dimming)), "phantoms#n": 2, "phantoms#shape": [96, 96],
                       "phantoms#n_cells": 6, "phantoms#clustering": 1.0})  # fmt: skip
        if dimming != 0.3:
            parser["phantoms#contact_dimming"] = dimming
        first = json.loads(Path(parser.get_parsed_content("prepared_datalist")).read_text())["training"][0]
        planes[dimming] = read_image(tmp_path / str(dimming) / first["image"])[0], first["label"]
    (dimmed, label), (undimmed, same_label) = planes[0.3], planes[0.0]
    assert label == same_label and np.array_equal(dimmed[0], undimmed[0])
    cells = read_image(tmp_path / "0.0" / label)[0]
    neighbours = [np.roll(cells, shift, axis) for shift in (-1, 1) for axis in (0, 1)]
    contact = (cells > 0) & np.any([(other > 0) & (other != cells) for other in neighbours], axis=0)
    interior = (cells > 0) & ~scipy_ndimage.binary_dilation(contact, iterations=6)
    gain = undimmed[1].astype(np.float64) - dimmed[1]  # the acquisition noise differs, so compare means
    assert contact.sum() > 20 and gain[contact].mean() > 0.015 and abs(gain[interior].mean()) < 0.01


def test_metadata_declares_the_channel_order():
    meta = BUNDLE / "configs" / "metadata.json"
    channels = json.loads(meta.read_text())["network_data_format"]["inputs"]["image"]["channel_def"]
    assert channels == {"0": "nucleus stain", "1": "cell (cytoplasm) stain"}


def _bbbc020_like_folder(raw: Path, n: int) -> None:
    """cells2d phantoms written in BBBC020's published layout: false-colour ``<field>_c1.TIF`` (cell, red) and
    ``<field>_c5.TIF`` (DAPI, blue), one mask file per cell and per nucleus in the two outline folders."""
    from cellbundles.synth.cells import cells2d

    for index in range(n):
        sample = cells2d(shape=(128, 128), n_cells=5, seed=index)
        field = f"jw-1h {index}"
        for channel, suffix, colour in ((0, "c5", 2), (1, "c1", 0)):
            rgb = np.zeros((128, 128, 3), dtype=np.uint8)
            rgb[..., colour] = np.clip(sample["image"][channel] * 200, 0, 255).astype(np.uint8)
            write_image(raw / "bbbc020_images" / "BBBC020_v1_images" / field / f"{field}_{suffix}.TIF", rgb, rgb=True)
        for key, folder, suffix in (
            ("cell_labels", "bbbc020_outlines_cells/BBBC020_v1_outlines_cells", "c1"),
            ("nucleus_labels", "bbbc020_outlines_nuclei/BBC020_v1_outlines_nuclei", "c5"),
        ):
            for object_id in range(1, int(sample[key].max()) + 1):
                mask = (sample[key] == object_id).astype(np.uint8) * 255
                write_image(raw / folder / f"{field}_{suffix}_{object_id}.TIF", mask)


@pytest.mark.slow
def test_both_stages_train_on_a_converted_bbbc020_folder(tmp_path):
    """A user with BBBC020's files: the manifest's two_channel conversion, then one command per stage."""
    from cellbundles.data.convert import run_converter
    from cellbundles.data.manifest import load_manifest

    _bbbc020_like_folder(tmp_path / "raw", 5)
    (step,) = [step for step in load_manifest("bbbc020")["conversion"] if step["subset"] == "two_channel"]
    dataset = tmp_path / "two_channel"
    assert run_converter(step["converter"], tmp_path / "raw", dataset, step["parameters"]) == 5
    real_data = ["--data_source", "datalist"]
    log = _train(TRAIN_NUCLEUS, dataset, tmp_path / "nucleus", 1, *real_data)
    assert "Iter: 2/2" in log and "Key metric: val_mask_ap" in log
    assert len(list((dataset / "images").iterdir())) == 5  # no phantoms written into the real data
    nucleus_weights = str(tmp_path / "nucleus" / "models" / "model.pt")
    log = _train(TRAIN, dataset, tmp_path / "cells", 1, *real_data, "--nucleus_weights", nucleus_weights)
    assert "Iter: 2/2" in log and "Key metric: val_mask_ap" in log
    assert (tmp_path / "cells" / "models" / "model.pt").is_file()


@pytest.mark.slow
def test_verify_net_in_out_passes_for_the_instance_label_view_of_the_network():
    """Two-channel input (metadata ``num_channels`` 2) -> ``(1, 1, H, W)`` uint16 cell labels through
    ``network_instances``, as for ``nuclei_maskrcnn_2d``."""
    args = ["--meta_file", "configs/metadata.json", "--config_file", "configs/inference.json", "--bundle_root", "."]
    args += ["--any", "64", "--device", "cpu"]
    _, log = run_monai_bundle("verify_net_in_out", "network_instances", *args, cwd=BUNDLE)
    assert "data shape of network is verified with no error" in log


@pytest.mark.slow
def test_torchrun_trains_the_fpf_model_on_two_cpu_processes(nucleus_training, tmp_path):
    """Rank 0 writes the phantoms (6: 4 training, 2 validation) while rank 1 waits, then both train."""
    nucleus_weights = nucleus_training["root"] / "models" / "model.pt"
    phantoms = ["--phantoms#n", "6", "--phantoms#shape", "[128, 128]", "--phantoms#n_cells", "5"]
    phantoms += ["--phantoms#val_fraction", "0.34", "--phantoms#test_fraction", "0.0"]
    args = ["-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "monai.bundle", "run", "--config_file",
            "['configs/train.json','configs/multi_gpu_train.json']", "--bundle_root", ".", "--dataset_dir",
            str(tmp_path / "phantoms"), *phantoms, "--ckpt_dir", str(tmp_path / "models"), "--output_dir", str(tmp_path / "eval"),
            "--max_epochs", "1", *TINY, "--nucleus_weights", str(nucleus_weights)]  # fmt: skip
    _, log = run_python(*args, cwd=BUNDLE)
    datalist = json.loads((tmp_path / "phantoms" / "datalist.json").read_text())
    assert (len(datalist["training"]), len(datalist["validation"])) == (4, 2)
    checkpoint = torch.load(tmp_path / "models" / "checkpoint_epoch=1.pt", map_location="cpu", weights_only=False)
    assert checkpoint["trainer"]["iteration"] == 2  # epoch_length 2 on each process
    assert not any(key.startswith("module.") for key in checkpoint["model"])  # saved without the DDP wrapper
    nucleus = torch.load(nucleus_weights, map_location="cpu", weights_only=True)
    pyramid = {k[len("backbone.nucleus.") :]: v for k, v in checkpoint["model"].items() if k.startswith("backbone.nucleus.")}
    assert pyramid and all(torch.equal(v, nucleus[f"backbone.{key}"]) for key, v in pyramid.items())  # still frozen
    assert log.count("Key metric: val_mask_ap") == 1  # logged on rank 0 only
