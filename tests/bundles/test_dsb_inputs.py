"""``nuclei_resunet_2d`` run the way users run it on DSB2018-like data (issue 12).

- Training from a datalist written by ``scripts/make_datalist.py`` for a dataset folder in the canonical
  layout (a few vendored DSB2018 images and their manifest), with ``--datalist`` and ``--dataset_dir``.
- Inference with the shipped weights on one synthetic nuclei image stored as grey, RGB and RGBA PNG and
  as 16-bit TIFF (every nucleus found in each), and on grey images with one bright nucleus and one at
  10 % of its brightness (both found) or at 3 % (a known limitation, a strict expected failure).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from cellbundles.io import read_image, write_image
from cellbundles.metrics import match_instances

from bundle_cli import run_monai_bundle, run_python
from test_nuclei_2d_bundles import BUNDLES, DSB, INFERENCE, REPO, TINY_NETWORK, TINY_TRAINING, TRAIN, _cli

NAME = "nuclei_resunet_2d"
WEIGHTS = BUNDLES / NAME / "models" / "model.pt"
# 256 x 256 fluorescence and 256 x 320 stained images of the vendored subset, 5 of each
GROUPS = {("fluorescence", 256, 256): 5, ("color_stain", 256, 320): 5}
# synthetic nuclei: discs of radius 8, six of them at least 60 pixels apart on a 192 x 192 field
RADIUS = 8
CENTRES = [(40, 40), (40, 100), (40, 160), (120, 40), (120, 100), (120, 160)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A dataset folder in the canonical layout: images/, labels/ and the manifest entries of 10 vendored images."""
    root = tmp_path_factory.mktemp("dsb_folder")
    manifest = json.loads((DSB / "manifest.json").read_text())
    chosen, counts = [], dict.fromkeys(GROUPS, 0)
    for sample in manifest["samples"]:
        group = (sample["modality_guess"], sample["height"], sample["width"])
        if group in GROUPS and counts[group] < GROUPS[group]:
            counts[group] += 1
            chosen.append(sample)
    assert counts == GROUPS
    for sample in chosen:
        for key in ("image", "label"):
            (root / sample[key]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(DSB / sample[key], root / sample[key])
    (root / "manifest.json").write_text(json.dumps({**manifest, "samples": chosen}, indent=2))
    return root


@pytest.mark.slow
def test_training_from_a_datalist_written_by_make_datalist(dataset, tmp_path):
    datalist = tmp_path / "datalist.json"
    args = ["scripts/make_datalist.py", "--dataset_dir", str(dataset), "--output", str(datalist)]
    run_python(*args, "--val_fraction", "0.2", "--test_fraction", "0.2", "--stratify", cwd=REPO)
    written = json.loads(datalist.read_text())
    modality = {s["id"]: s["modality_guess"] for s in json.loads((dataset / "manifest.json").read_text())["samples"]}
    for section, size in {"training": 6, "validation": 2, "test": 2}.items():
        assert len(written[section]) == size, section
        assert sorted(modality[Path(item["image"]).stem] for item in written[section]).count("color_stain") == size // 2

    args = ["run", "--config_file", TRAIN, "--bundle_root", ".", "--datalist", str(datalist)]
    args += ["--dataset_dir", str(dataset), "--ckpt_dir", str(tmp_path / "models"), "--output_dir", str(tmp_path / "eval")]
    run_monai_bundle(*args, *_cli({"max_epochs": 1, **TINY_TRAINING, **TINY_NETWORK[NAME]}), cwd=BUNDLES / NAME)

    checkpoint = torch.load(tmp_path / "models" / "checkpoint_epoch=1.pt", map_location="cpu", weights_only=False)
    assert checkpoint["trainer"]["iteration"] == 3  # the 6 training images, batch size 2
    assert (tmp_path / "models" / "model.pt").is_file()  # selected on the 2 validation images
    history = (tmp_path / "eval" / "training_history.csv").read_text().splitlines()
    assert len(history) == 2 and "val_accuracy_iou0.5" in history[0]


def _nuclei_image(brightness: list[float], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Float image in [0, 1] with a disc of each ``brightness`` (above a dark background) at the first
    centres, slightly blurred, with noise; and its instance labels."""
    rows, cols = np.indices((192, 192))
    labels = np.zeros((192, 192), np.int32)
    image = np.zeros((192, 192))
    for index, ((r, c), level) in enumerate(zip(CENTRES, brightness), start=1):
        disc = (rows - r) ** 2 + (cols - c) ** 2 <= RADIUS**2
        labels[disc] = index
        image[disc] = level
    image = ndimage.gaussian_filter(image, 1.0) + 0.02
    image += np.random.default_rng(seed).normal(0.0, 0.004, image.shape)
    return np.clip(image, 0.0, 1.0), labels


def _inputs(folder: Path) -> dict[str, np.ndarray]:
    """Write the test images into ``folder``; file name -> ground-truth labels."""
    image, labels = _nuclei_image([0.8] * 6)
    grey = np.round(image * 255).astype(np.uint8)
    write_image(folder / "nuclei_grey.png", grey)
    write_image(folder / "nuclei_rgb.png", np.repeat(grey[..., None], 3, axis=-1), rgb=True)
    rgba = np.concatenate([np.repeat(grey[..., None], 3, axis=-1), np.full((*grey.shape, 1), 255, np.uint8)], -1)
    write_image(folder / "nuclei_rgba.png", rgba, rgb=True)
    write_image(folder / "nuclei_16bit.tif", np.round(image * 60000).astype(np.uint16))
    # one nucleus at 10 % and at 3 % of the other's brightness
    truth = dict.fromkeys(("nuclei_grey.png", "nuclei_rgb.png", "nuclei_rgba.png", "nuclei_16bit.tif"), labels)
    for name, level in DIM_LEVELS.items():
        dim_bright, truth[name] = _nuclei_image([0.9, level], seed=1)
        write_image(folder / name, np.round(dim_bright * 255).astype(np.uint8))
    return truth


DIM_LEVELS = {"dim_10_percent_and_bright.png": 0.09, "dim_3_percent_and_bright.png": 0.027}
"""Test image -> brightness of its dim nucleus (the bright one is at 0.9)."""


@pytest.fixture(scope="module")
def shipped_inference(tmp_path_factory) -> dict[str, object]:
    """``inference.json`` of a copy of the bundle as distributed (shipped weights) on the test images."""
    root = tmp_path_factory.mktemp("dsb_inputs")
    bundle = root / NAME
    for name in ("configs", "scripts", "docs"):
        shutil.copytree(BUNDLES / NAME / name, bundle / name, ignore=shutil.ignore_patterns("__pycache__"))
    (bundle / "models").mkdir()
    shutil.copy(WEIGHTS, bundle / "models" / "model.pt")
    truth = _inputs(root / "inputs")
    args = ["run", "--config_file", INFERENCE, "--bundle_root", str(bundle), "--dataset_dir", str(root / "inputs")]
    run_monai_bundle(*args, "--output_dir", str(root / "out"), cwd=bundle)
    return {"out": root / "out", "truth": truth}


def _found(run: dict, name: str):
    """The instances written for input ``name`` matched to its ground truth at IoU 0.5."""
    instances, _ = read_image(run["out"] / f"{Path(name).stem}_instances.tif")
    return match_instances(run["truth"][name], instances.astype(np.int64), thresh=0.5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nuclei_grey.png", "nuclei_rgb.png", "nuclei_rgba.png", "nuclei_16bit.tif"])
def test_shipped_weights_find_every_nucleus_in_grey_rgb_rgba_and_16_bit_files(shipped_inference, name):
    result = _found(shipped_inference, name)
    assert (result.n_true, result.n_pred, result.tp) == (6, 6, 6)


@pytest.mark.slow
def test_shipped_weights_find_a_dim_and_a_bright_nucleus(shipped_inference):
    result = _found(shipped_inference, "dim_10_percent_and_bright.png")
    assert (result.n_true, result.n_pred, result.tp) == (2, 2, 2)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="known limitation of the shipped weights (issue 12 note): a nucleus at 3 % of its neighbour's brightness "
    "is called background (found at 10 %); stronger per-nucleus dimming in training found it at 6 % but cost "
    "validation accuracy (0.715 -> 0.645), and a second pass on the amplified image added false nuclei on DSB2018",
)
def test_shipped_weights_find_a_nucleus_at_3_percent_beside_a_bright_one(shipped_inference):
    result = _found(shipped_inference, "dim_3_percent_and_bright.png")
    assert (result.n_true, result.n_pred, result.tp) == (2, 2, 2)
