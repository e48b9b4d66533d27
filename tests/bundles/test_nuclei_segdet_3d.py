"""End-to-end tests of the ``nuclei_segdet_3d`` bundle, run the way users run it (``python -m monai.bundle``).

A module-scoped fixture trains a tiny network (3 phantoms of 32 x 64 x 64 voxels, one epoch of two
16 x 32 x 32 patches) once; the other tests evaluate it, export it, resume its training, run inference
with it on the vendored GoNuclear volume, and load it in MONAI Label.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from cellbundles.io import read_image, write_image
from cellbundles.metrics import dice, match_instances
from cellbundles.metrics.centroids import instance_centroids, match_centroids
from cellbundles.metrics.segmentation import hausdorff

from bundle_cli import run_monai_bundle, run_python

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "bundles" / "nuclei_segdet_3d"
SAMPLE = REPO / "data" / "samples" / "gonuclear_ovule_3d" / "images" / "1135.tif"
SAMPLE_SPACING = (0.28372, 0.12679, 0.12679)
MODEL_SPACING = (0.8, 0.5, 0.5)
TRAIN = "configs/train.json"
EVALUATE = "['configs/train.json','configs/evaluate.json']"
MULTI_GPU_TRAIN = "['configs/train.json','configs/multi_gpu_train.json']"
INFERENCE = "configs/inference.json"
TINY_PHANTOMS = ["--phantoms#shape", "[32,64,64]"]
TINY_TRAINING = ["--epoch_length", "2", "--val_interval", "1", "--samples_per_volume", "1"]
TINY_TRAINING += ["--patch_size", "[16,32,32]"]
OUTPUT_KINDS = ("instances.tif", "mask.tif", "density.tif", "centroids.csv", "overlay.png")
CENTROID_COLUMNS = ["id", "z", "y", "x", "z_um", "y_um", "x_um", "peak"]
METRICS = (
    "val_detection_f1",
    "val_detection_precision",
    "val_detection_recall",
    "val_dice",
    "val_instance_f1",
    "val_hausdorff",
    "val_hausdorff95",
    "val_rand_error",
)


def _python(*args: str, cwd: Path = BUNDLE, **options) -> tuple[int, str]:
    """``python <args>`` in ``cwd`` (default: the bundle folder), see :func:`bundle_cli.run_python`."""
    return run_python(*args, cwd=cwd, **options)


def _monai_bundle(*args: str, cwd: Path = BUNDLE, **options) -> tuple[int, str]:
    """``python -m monai.bundle <args>``, as users run the bundle (options of :func:`_python`)."""
    return run_monai_bundle(*args, cwd=cwd, **options)


def _infer(bundle: Path, dataset: Path, out: Path, *options: str, check: bool = True) -> tuple[int, str]:
    """``inference.json`` of ``bundle`` on ``dataset`` (a folder or one file) into ``out``, plus ``options``."""
    args = ["run", "--config_file", INFERENCE, "--bundle_root", str(bundle), "--dataset_dir", str(dataset)]
    return _monai_bundle(*args, "--output_dir", str(out), *options, cwd=bundle, check=check)


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _copy_bundle(model_file: Path, target: Path) -> Path:
    """A bundle folder as distributed (configs, scripts, docs, LICENSE) with ``model_file`` as ``models/model.pt``."""
    for name in ("configs", "scripts", "docs"):
        shutil.copytree(BUNDLE / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(BUNDLE / "LICENSE", target / "LICENSE")
    (target / "models").mkdir()
    shutil.copy(model_file, target / "models" / "model.pt")
    return target


def _set_config_values(config_file: Path, **values: object) -> None:
    config = json.loads(config_file.read_text())
    config.update(values)
    config_file.write_text(json.dumps(config, indent=4))


def _network(model_file: Path | None = None) -> torch.nn.Module:
    """The bundle's ``network_def`` (from ``inference.json``), with the weights of ``model_file`` when given."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(BUNDLE / INFERENCE))
    network = parser.get_parsed_content("network_def")
    if model_file is not None:
        network.load_state_dict(torch.load(model_file, map_location="cpu", weights_only=True))
    return network.eval()


@pytest.fixture(scope="module")
def tiny_training(tmp_path_factory) -> dict[str, object]:
    """One epoch of training on 3 phantoms (2 training, 1 validation): dataset, checkpoints and log."""
    root = tmp_path_factory.mktemp("segdet_train")
    paths = {"data": root / "phantoms", "ckpt": root / "models", "eval": root / "eval"}
    _, log = _monai_bundle(
        "run",
        "--config_file",
        TRAIN,
        "--bundle_root",
        ".",
        "--dataset_dir",
        str(paths["data"]),
        "--phantoms#n",
        "3",
        *TINY_PHANTOMS,
        "--max_epochs",
        "1",
        *TINY_TRAINING,
        "--ckpt_dir",
        str(paths["ckpt"]),
        "--output_dir",
        str(paths["eval"]),
    )
    return {**paths, "log": log}


@pytest.fixture(scope="module")
def model_file(tiny_training) -> Path:
    return tiny_training["ckpt"] / "model.pt"


@pytest.fixture(scope="module")
def bundle_copy(model_file, tmp_path_factory) -> Path:
    return _copy_bundle(model_file, tmp_path_factory.mktemp("segdet_bundle"))


@pytest.fixture(scope="module")
def inference_run(bundle_copy, tmp_path_factory) -> dict[str, object]:
    """Inference on the GoNuclear TIFF and on the same volume saved as NIfTI (``ovule.nii.gz``)."""
    root = tmp_path_factory.mktemp("segdet_inference")
    inputs, outputs = root / "inputs", root / "outputs"
    inputs.mkdir()
    shutil.copy(SAMPLE, inputs / SAMPLE.name)
    array, spacing = read_image(SAMPLE)
    write_image(inputs / "ovule.nii.gz", array, spacing)
    _, log = _infer(bundle_copy, inputs, outputs)
    return {"inputs": inputs, "outputs": outputs, "log": log}


@pytest.mark.slow
def test_train_writes_checkpoints_and_reports_the_key_metric(tiny_training):
    ckpt = tiny_training["ckpt"]
    assert sorted(p.name for p in ckpt.iterdir()) == ["checkpoint_epoch=1.pt", "model.pt"]
    log = tiny_training["log"]
    assert "Got new best metric of val_detection_f1" in log
    assert "val_dice" in log and "val_instance_f1" in log
    assert "Saved checkpoint at epoch: 1" in log
    datalist = json.loads((tiny_training["data"] / "datalist.json").read_text())
    assert len(datalist["training"]) == 2 and len(datalist["validation"]) == 1

    checkpoint = torch.load(ckpt / "checkpoint_epoch=1.pt", map_location="cpu", weights_only=False)
    assert set(checkpoint) == {"model", "optimizer", "lr_scheduler", "trainer"}
    assert checkpoint["trainer"]["iteration"] == 2
    weights = torch.load(ckpt / "model.pt", map_location="cpu", weights_only=True)
    assert set(weights) == set(_network().state_dict())


@pytest.mark.slow
def test_train_resumes_from_the_latest_checkpoint(tiny_training, tmp_path):
    ckpt = shutil.copytree(tiny_training["ckpt"], tmp_path / "models")
    _, log = _monai_bundle(
        "run",
        "--config_file",
        TRAIN,
        "--bundle_root",
        ".",
        "--dataset_dir",
        str(tiny_training["data"]),
        "--max_epochs",
        "2",
        *TINY_TRAINING,
        "--ckpt_dir",
        str(ckpt),
        "--output_dir",
        str(tmp_path / "eval"),
    )
    # ignite logs "resuming from iteration 0" before the CheckpointLoader restores the trainer's state
    assert f"Restored all variables from {ckpt / 'checkpoint_epoch=1.pt'}" in log
    assert "Epoch: 1/2" not in log and "Epoch: 2/2, Iter: 2/2" in log
    assert "Epoch[2] Metrics -- val_detection_f1" in log and "Epoch[1] Metrics" not in log
    assert "Saved checkpoint at epoch: 2" in log
    checkpoint = torch.load(ckpt / "checkpoint_epoch=2.pt", map_location="cpu", weights_only=False)
    assert checkpoint["trainer"]["iteration"] == 4
    assert checkpoint["trainer"]["max_epochs"] == 2


@pytest.mark.slow
def test_distance_output_is_trained_and_seeds_the_instances(tiny_training, tmp_path):
    """``--distance_output true``: the network gains the normalised-distance channel, training its loss term, and
    inference takes the centroids from that channel's maxima where the density supports them: a distance head
    forced to 0 everywhere gives no centroid, one forced to 1 gives centroids of peak value 1 spread over the volume
    when the density head is forced high too, and none when it is forced to 0."""
    ckpt = tmp_path / "models"
    _, log = _monai_bundle(
        "run", "--config_file", TRAIN, "--bundle_root", ".", "--dataset_dir", str(tiny_training["data"]),
        "--max_epochs", "1", *TINY_TRAINING, "--distance_output", "true",
        "--ckpt_dir", str(ckpt), "--output_dir", str(tmp_path / "eval"),
    )  # fmt: skip
    assert "Got new best metric of val_detection_f1" in log
    weights = torch.load(ckpt / "model.pt", map_location="cpu", weights_only=True)
    last_weight, last_bias = "distance_head.2.conv.weight", "distance_head.2.conv.bias"  # its 1x1x1 convolution
    assert weights[last_weight].shape == (1, 16, 1, 1, 1)
    assert torch.count_nonzero(weights[last_bias]) == 1  # the distance loss reached the head (bias starts at 0)
    density_weight, density_bias = "detection_head.3.conv.weight", "detection_head.3.conv.bias"  # softplus(20) / 1000
    rows = {}
    for name, distance, density in (("empty", -20.0, 20.0), ("full", 20.0, 20.0), ("unsupported", 20.0, -20.0)):
        forced = {**weights, last_weight: torch.zeros_like(weights[last_weight]), last_bias: torch.tensor([distance])}
        forced.update({density_weight: torch.zeros_like(weights[density_weight]), density_bias: torch.tensor([density])})
        torch.save(forced, tmp_path / f"{name}.pt")
        bundle = _copy_bundle(tmp_path / f"{name}.pt", tmp_path / f"bundle_{name}")
        _infer(bundle, SAMPLE, tmp_path / name, "--distance_output", "true")
        rows[name] = _read_rows(tmp_path / name / "1135_centroids.csv")[1]
    assert rows["empty"] == [] and not read_image(tmp_path / "empty" / "1135_instances.tif")[0].any()
    assert len(rows["full"]) > 5 and all(float(row["peak"]) == pytest.approx(1.0) for row in rows["full"])
    assert rows["unsupported"] == []


@pytest.mark.parametrize("distance_output", [False, True])
def test_dropout_passes_look_for_the_peaks_the_seeds_come_from(distance_output):
    """``--mc_dropout_samples``: each pass looks for peaks in the last output channel (the density, or the distance map
    when the head is on) with the threshold of the seeds they are compared with, not the density's in both cases."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(BUNDLE / INFERENCE))
    parser.update({"bundle_root": str(BUNDLE), "mc_dropout_samples": 2, "distance_output": distance_output})
    seeds, passes = parser.get_parsed_content("segdet_postprocessing")[3], parser.get_parsed_content("uncertainty")[0]
    expected = parser["distance_seed_threshold"] if distance_output else parser["peak_threshold"]
    assert passes.threshold == seeds.threshold == expected
    assert passes.density_channel == -1 and passes.network.distance_output == distance_output


@pytest.mark.parametrize("distance_output", [False, True])
def test_distance_target_is_built_only_for_the_distance_head(tiny_training, distance_output):
    """The training samples carry the normalised-distance target (and count it in ``has_mask``) only when the
    distance head is on; otherwise no distance map is computed, cached or carried through the random transforms."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(BUNDLE / TRAIN))
    parser.update({"bundle_root": str(BUNDLE), "dataset_dir": str(tiny_training["data"]), "phantoms#n": 3})
    parser.update({"phantoms#shape": [32, 64, 64], "patch_size": [16, 32, 32], "samples_per_volume": 1})
    parser.update({"distance_output": "true" if distance_output else "false"})
    sample = parser.get_parsed_content("train#dataset")[0][0]
    assert set(sample) >= {"image", "label_binary", "weight", "density", "has_mask", "has_centroids"}
    assert ("distance" in sample) == distance_output
    if distance_output:
        assert sample["distance"].shape == sample["label_binary"].shape == (1, 16, 32, 32)
        assert 0.0 <= float(sample["distance"].min()) and float(sample["distance"].max()) <= 1.0


@pytest.mark.slow
def test_evaluate_scores_the_written_outputs_against_the_annotation(tmp_path):
    """The shipped weights on the vendored QCANet embryo (``--data_source datalist``: its own images, no phantoms
    added): instance scores and Dice are those of the written instances and mask against the label file, on the
    input grid. On the network grid the Dice was measured against the training target (touching nuclei parted by
    a seam) resampled to that grid: 0.701 instead of 0.778."""
    qcanet = REPO / "data" / "samples" / "qcanet_mouse_embryo_3d"
    args = ["run", "--config_file", EVALUATE, "--bundle_root", ".", "--data_source", "datalist"]
    _monai_bundle(*args, "--dataset_dir", str(qcanet), "--output_dir", str(tmp_path), "--input_spacing", "[1.75,0.8,0.8]")
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    labels = read_image(qcanet / "labels" / "8_cell_stage.tif")[0].astype(np.int64)
    instances = read_image(tmp_path / "8_cell_stage_instances.tif")[0].astype(np.int64)
    mask = read_image(tmp_path / "8_cell_stage_mask.tif")[0] > 0
    assert metrics["val_instance_f1"] == pytest.approx(match_instances(labels, instances, 0.5).f1, abs=1e-6)
    assert metrics["val_dice"] == pytest.approx(dice(labels > 0, mask), abs=1e-5)
    assert metrics["val_dice"] > 0.75
    assert sorted(p.name for p in (qcanet / "images").iterdir()) == ["8_cell_stage.tif"]


@pytest.mark.slow
def test_evaluate_measures_distances_in_um_of_the_input_volume(tmp_path):
    """The shipped weights on the vendored GoNuclear crop (voxels 0.28 x 0.13 x 0.13 um), as inference.json runs
    them: detection F1 within 3.28 um of the input volume and the Hausdorff distances of the written mask, equal to
    the same measures of the written files. On the grid scaled to the nuclei the radius meant 3.28 um of a 6.5 um
    nucleus (detection F1 0.667 instead of 0.753) and the Hausdorff distance was in um of that grid (7.62 instead
    of 3.37)."""
    gonuclear = REPO / "data" / "samples" / "gonuclear_ovule_3d"
    args = ["run", "--config_file", EVALUATE, "--bundle_root", ".", "--data_source", "datalist"]
    _monai_bundle(*args, "--dataset_dir", str(gonuclear), "--output_dir", str(tmp_path))
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    labels, spacing = read_image(gonuclear / "labels" / "1135.tif")
    _, rows = _read_rows(tmp_path / "1135_centroids.csv")
    found = np.array([[float(row[axis]) for axis in "zyx"] for row in rows])
    expected = match_centroids(instance_centroids(labels.astype(np.int64))[1], found, 3.28, spacing)
    assert metrics["val_detection_f1"] == pytest.approx(expected.f1, abs=1e-6)
    assert metrics["val_detection_recall"] == pytest.approx(expected.recall, abs=1e-6)
    distances = hausdorff(labels > 0, read_image(tmp_path / "1135_mask.tif")[0] > 0, spacing=spacing)
    assert metrics["val_hausdorff"] == pytest.approx(distances.hd, rel=1e-6)
    assert metrics["val_hausdorff95"] == pytest.approx(distances.hd95, rel=1e-6)
    # what a user gets: the diameter estimated from the image (not from the labels, as training does), so
    # evaluate.json writes the very instances of inference.json (at the labels' diameter: instance F1 0.53, not 0.71)
    inference_dir = tmp_path / "inference"
    _monai_bundle("run", "--config_file", INFERENCE, "--bundle_root", ".", "--dataset_dir", str(gonuclear / "images"),
                  "--output_dir", str(inference_dir))  # fmt: skip
    evaluated = read_image(tmp_path / "1135_instances.tif")[0]
    np.testing.assert_array_equal(evaluated, read_image(inference_dir / "1135_instances.tif")[0])


def test_evaluate_does_not_write_phantoms_into_a_folder_of_other_volumes(tmp_path):
    """Run on a user's folder without ``--data_source datalist``: a clear error naming the folder, nothing added."""
    data = tmp_path / "my_volumes"
    (data / "images").mkdir(parents=True)
    shutil.copy(SAMPLE, data / "images" / "ovule.tif")
    args = ["run", "--config_file", EVALUATE, "--bundle_root", ".", "--dataset_dir", str(data)]
    code, log = _monai_bundle(*args, "--output_dir", str(tmp_path / "out"), check=False)
    assert code != 0
    assert str(data) in log.strip().splitlines()[-1] and "--data_source datalist" in log.strip().splitlines()[-1]
    assert sorted(p.name for p in data.rglob("*") if p.is_file()) == ["ovule.tif"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.slow
def test_evaluate_writes_metrics_summary_and_outputs(tiny_training, tmp_path):
    data, out = tmp_path / "phantoms_eval", tmp_path / "out"
    _monai_bundle(
        "run",
        "--config_file",
        EVALUATE,
        "--bundle_root",
        ".",
        "--dataset_dir",
        str(data),
        "--phantoms#n",
        "2",
        *TINY_PHANTOMS,
        "--ckpt_dir",
        str(tiny_training["ckpt"]),
        "--output_dir",
        str(out),
    )
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert set(METRICS) <= set(metrics)
    assert all(isinstance(metrics[name], float) for name in METRICS)
    assert 0.0 <= metrics["val_dice"] <= 1.0 and 0.0 <= metrics["val_detection_f1"] <= 1.0

    summary = json.loads((out / "summary.json").read_text())
    images = sorted((data / "images").iterdir())
    assert summary["n_images"] == len(images) == 2
    assert sorted(record["image"] for record in summary["images"]) == [str(p) for p in images]
    for image in images:
        stem = image.name[: -len(".tif")]
        assert all((out / f"{stem}_{kind}").is_file() for kind in OUTPUT_KINDS)
        instances, spacing = read_image(out / f"{stem}_instances.tif")
        assert instances.shape == tifffile.imread(image).shape
        assert spacing == pytest.approx(MODEL_SPACING, rel=1e-4)
        columns, _ = _read_rows(out / f"{stem}_centroids.csv")
        assert columns == CENTROID_COLUMNS


@pytest.mark.slow
def test_inference_on_a_tiff_keeps_the_input_grid_and_spacing(inference_run):
    out = inference_run["outputs"]
    assert all((out / f"1135_{kind}").is_file() for kind in OUTPUT_KINDS)
    assert not (out / "1135_uncertainty.csv").exists()
    for kind in ("instances", "mask", "density"):
        array, spacing = read_image(out / f"1135_{kind}.tif")
        assert array.shape == (100, 100, 100)
        assert spacing == pytest.approx(SAMPLE_SPACING, rel=1e-3)
    mask, _ = read_image(out / "1135_mask.tif")
    instances, _ = read_image(out / "1135_instances.tif")
    assert set(np.unique(mask)) <= {0, 1}
    assert not np.any((instances > 0) & (mask == 0))  # instances lie in the mask

    columns, rows = _read_rows(out / "1135_centroids.csv")
    assert columns == CENTROID_COLUMNS
    # every instance grows from a detected centroid (mask parts without one are dropped: unseeded "drop"),
    # and every centroid in the mask seeds an instance
    assert len(np.unique(instances[instances > 0])) <= len(rows)
    for row in rows:
        z, y, x = (int(round(float(row[axis]))) for axis in "zyx")
        assert instances[z, y, x] > 0 or mask[z, y, x] == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_images"] == 2
    record = next(r for r in summary["images"] if r["image"].endswith("1135.tif"))
    assert record["n_centroids"] == len(rows)
    assert record["count"] > 0
    assert set(record["outputs"]) == {"instances", "mask", "density", "centroids", "overlay"}
    overlay = (out / "1135_overlay.png").read_bytes()
    assert overlay.startswith(b"\x89PNG")


@pytest.mark.slow
def test_inference_on_a_nifti_writes_nifti(inference_run):
    out = inference_run["outputs"]
    for kind in ("instances", "mask", "density"):
        assert not (out / f"ovule_{kind}.tif").exists()
        array, spacing = read_image(out / f"ovule_{kind}.nii.gz")
        assert array.shape == (100, 100, 100)
        assert spacing == pytest.approx(SAMPLE_SPACING, rel=1e-3)
    np.testing.assert_array_equal(
        read_image(out / "ovule_instances.nii.gz")[0], read_image(out / "1135_instances.tif")[0]
    )
    assert (out / "ovule_centroids.csv").is_file() and (out / "ovule_overlay.png").is_file()


@pytest.mark.slow
def test_inference_with_mc_dropout_writes_uncertainty(bundle_copy, tmp_path):
    # a threshold of 0 makes every density maximum a peak, so that the untrained network yields rows
    out = tmp_path / "out"
    _infer(bundle_copy, SAMPLE, out, "--mc_dropout_samples", "3", "--peak_threshold", "0.0")
    _, centroids = _read_rows(out / "1135_centroids.csv")
    columns, uncertainty = _read_rows(out / "1135_uncertainty.csv")
    assert columns == ["id", "z", "y", "x", "z_um", "y_um", "x_um", "radius_um", "uncertain"]
    assert len(uncertainty) == len(centroids) > 0
    assert [row["z"] for row in uncertainty] == [row["z"] for row in centroids]
    radii = np.array([float(row["radius_um"]) for row in uncertainty])
    assert np.all(radii >= 0)
    assert {row["uncertain"] for row in uncertainty} <= {"0", "1", "True", "False", "true", "false"}


@pytest.mark.slow
def test_inference_rejects_a_file_that_is_no_image(bundle_copy, tmp_path):
    inputs, out = tmp_path / "inputs", tmp_path / "out"
    inputs.mkdir()
    (inputs / "bad.tif").write_text("this is not a TIFF file\n")
    code, log = _infer(bundle_copy, inputs, out, check=False)
    assert code != 0
    assert f"ValueError: {inputs / 'bad.tif'}: cannot read" in log
    assert not out.exists() or not list(out.glob("bad_*"))


@pytest.mark.slow
def test_inference_asks_for_the_spacing_of_a_tiff_without_one(bundle_copy, tmp_path):
    inputs, out = tmp_path / "inputs", tmp_path / "out"
    inputs.mkdir()
    volume = tifffile.imread(SAMPLE)[:24, :40, :40]
    tifffile.imwrite(inputs / "plain.tif", volume)
    assert read_image(inputs / "plain.tif")[1] is None
    code, log = _infer(bundle_copy, inputs, out, check=False)
    assert code != 0
    assert "--input_spacing" in log and str(inputs / "plain.tif") in log
    assert not out.exists() or not list(out.glob("plain_*"))

    _infer(bundle_copy, inputs, out, "--input_spacing", "[1.0, 0.5, 0.5]")
    instances, spacing = read_image(out / "plain_instances.tif")
    assert instances.shape == volume.shape
    assert spacing == pytest.approx((1.0, 0.5, 0.5))


@pytest.mark.slow
def test_network_matches_its_declared_inputs_and_outputs():
    _, log = _monai_bundle(
        "verify_net_in_out",
        "network_def",
        "--meta_file",
        "configs/metadata.json",
        "--config_file",
        INFERENCE,
        "--device",
        "cpu",
        "--n",
        "2",
    )
    assert "data shape of network is verified with no error" in log


@pytest.mark.slow
def test_torchscript_export_matches_the_eager_network(model_file, tmp_path):
    exported = tmp_path / "model.ts"
    _monai_bundle(
        "ckpt_export",
        "network_def",
        "--filepath",
        str(exported),
        "--ckpt_file",
        str(model_file),
        "--meta_file",
        "configs/metadata.json",
        "--config_file",
        INFERENCE,
    )
    scripted = torch.jit.load(str(exported), map_location="cpu").eval()
    eager = _network(model_file)
    image = torch.rand(1, 1, 16, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = eager(image)
        got = scripted(image)
    assert got.shape == (1, 3, 16, 32, 32)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def _monai_label_task(bundle: Path):
    pytest.importorskip("monailabel")
    from cellbundles.label import CellBundleInferTask

    return CellBundleInferTask(str(bundle), conf={})


@pytest.fixture
def phantom_tiff(tmp_path) -> tuple[Path, np.ndarray]:
    from cellbundles.synth import nuclei3d

    phantom = nuclei3d(shape=(32, 64, 64), spacing=MODEL_SPACING, seed=np.random.SeedSequence([7, 0]))
    path = tmp_path / "phantom.tif"
    write_image(path, phantom["image"], MODEL_SPACING)
    return path, phantom["image"]


@pytest.mark.slow
def test_monai_label_segments_a_tiff_on_its_grid(bundle_copy, phantom_tiff):
    task = _monai_label_task(bundle_copy)
    assert task.is_valid()
    assert task.dimension == 3
    assert task.labels == {"nucleus": 1}
    path, image = phantom_tiff
    label_file, result = task({"image": str(path), "device": "cpu"})
    assert result["label_kind"].startswith("instances")
    # the label overlays the image: the same (Z, Y, X) array (not MONAI's (X, Y, Z)), with its voxel size
    label, spacing = read_image(label_file)
    assert label_file.endswith(".tif")
    assert label.shape == image.shape
    assert spacing == pytest.approx(MODEL_SPACING)
    assert result["nuclei"] == len(np.unique(label[label > 0]))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["1135.tif", "ovule.nii.gz"])
def test_monai_label_writes_the_bundles_own_instances(bundle_copy, inference_run, name):
    task = _monai_label_task(bundle_copy)
    label_file, _ = task({"image": str(inference_run["inputs"] / name), "device": "cpu"})
    suffix = ".tif" if name.endswith(".tif") else ".nii.gz"
    assert label_file.endswith(suffix)
    label, spacing = read_image(label_file)
    expected, expected_spacing = read_image(inference_run["outputs"] / name.replace(suffix, f"_instances{suffix}"))
    np.testing.assert_array_equal(label, expected)  # voxel by voxel, on the input grid
    assert spacing == pytest.approx(expected_spacing, rel=1e-3)
    assert spacing == pytest.approx(SAMPLE_SPACING, rel=1e-3)


@pytest.mark.slow
def test_monai_label_handles_detected_centroids(bundle_copy, phantom_tiff, tmp_path):
    # with a threshold of 0 every density maximum is a centroid, as with a trained network; MONAI Label
    # reads the item's "centroids" as a list of {label name: [x, y, z]} dicts for its viewers
    bundle = shutil.copytree(bundle_copy, tmp_path / "bundle")
    _set_config_values(bundle / INFERENCE, peak_threshold=0.0)
    task = _monai_label_task(bundle)
    path, image = phantom_tiff
    label_file, result = task({"image": str(path), "device": "cpu"})
    label = tifffile.imread(label_file)
    assert label.size == image.size and label.max() > 0
    assert isinstance(result["centroids"], dict)


@pytest.mark.slow
def test_torchrun_trains_on_two_cpu_processes(tmp_path):
    models = tmp_path / "models"
    _, log = _python(
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        MULTI_GPU_TRAIN,
        "--bundle_root",
        ".",
        "--dataset_dir",
        str(tmp_path / "phantoms"),
        "--phantoms#n",
        "4",
        "--phantoms#val_fraction",
        "0.5",
        *TINY_PHANTOMS,
        "--max_epochs",
        "1",
        *TINY_TRAINING,
        "--ckpt_dir",
        str(models),
        "--output_dir",
        str(tmp_path / "eval"),
    )
    assert sorted(p.name for p in models.iterdir()) == ["checkpoint_epoch=1.pt", "model.pt"]
    checkpoint = torch.load(models / "checkpoint_epoch=1.pt", map_location="cpu", weights_only=False)
    assert checkpoint["trainer"]["iteration"] == 1  # epoch_length 2 is shared by the two processes
    assert set(checkpoint["model"]) == set(_network().state_dict())  # saved without the DDP wrapper
    assert log.count("Epoch[1] Metrics -- val_detection_f1") == 1  # StatsHandler on rank 0 only


@pytest.mark.parametrize("config", ["configs/inference.json", "configs/train.json"])
def test_mask_step_thresholds_the_nucleus_probability_at_mask_threshold(config):
    from monai.bundle import ConfigParser

    from cellbundles.transforms import ProbabilityMaskd

    parser = ConfigParser()
    parser.read_config(BUNDLE / config)
    path = "segdet_postprocessing" if "inference" in config else "validate#postprocessing_transforms"
    assert parser["mask_threshold"] == 0.5
    parser["mask_threshold"] = 0.6
    transforms = [t for t in parser.get_parsed_content(path) if isinstance(t, ProbabilityMaskd)]
    assert len(transforms) == 1
    assert transforms[0].keys == ("seg",) and transforms[0].mask_keys == ("mask",)
    assert transforms[0].converter.threshold == 0.6


@pytest.mark.parametrize("config", ["configs/inference.json", "configs/train.json"])
def test_a_volume_smaller_than_the_window_is_extended_by_its_mirror_image(config):
    """A volume smaller than the window must not sit in zeros (the GoNuclear crops were lost that way) nor in its
    last slice repeated (a nucleus cut by a face became a rod): the window sees the volume mirrored at its faces,
    also where the volume is thinner than half the window, and the output is the volume's own grid. Inference and
    the validation / evaluate.json (train.json's ``validate#inferer``) run the same way."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(BUNDLE / config)
    inferer = parser.get_parsed_content("inferer" if "inference" in config else "validate#inferer")
    volume = torch.arange(8.0).reshape(1, 1, 8, 1, 1).expand(1, 1, 8, 5, 16).clone()  # 5 < 64 / 2 in y
    windows = []
    output = inferer(volume, lambda patch: windows.append(patch.clone()) or patch)
    assert output.shape == volume.shape
    torch.testing.assert_close(output, volume)
    assert [tuple(w.shape) for w in windows] == [(1, 1, 32, 64, 64)]
    column = windows[0][0, 0, :, 0, 0]  # z: 12 mirrored slices (reflected twice), the 8 of the volume, 12 mirrored
    before, after = [2, 3, 4, 5, 6, 7, 6, 5, 4, 3, 2, 1], [6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5]
    assert column.tolist() == [*before, *range(8), *after]


def test_training_target_has_a_seam_between_touching_nuclei_and_inference_grows_it_back():
    """``gap_width``: the segmentation target of training leaves one voxel of background on each side of a
    contact between nuclei; the post-processing of inference and of validation / evaluation grows the
    instances back by ``grow_voxels`` over that seam (only where the nucleus probability exceeds
    ``grow_threshold``, never into another nucleus). Both are on by default since release 0.3.0, whose weights
    were trained with the seam (README); ``0`` turns them off."""
    from monai.bundle import ConfigParser
    from monai.data import MetaTensor
    from monai.transforms import Compose
    from scipy import ndimage

    from cellbundles.transforms import (
        GrowInstancesd,
        InstancesToBinaryd,
        SeededWatershedd,
        TrimInstancesd,
        render_gaussian_density,
    )

    affine = torch.diag(torch.tensor([*MODEL_SPACING, 1.0]))
    labels = np.zeros((16, 24, 40), np.int32)
    labels[4:12, 6:18, 6:20], labels[4:12, 6:18, 20:34] = 1, 2  # two boxes touching along x = 19 | 20
    train = ConfigParser()
    train.read_config(BUNDLE / TRAIN)
    assert train["gap_width"] == 1 and train["grow_voxels"] == 2 and train["grow_threshold"] == 0.1
    to_binary = [t for t in train.get_parsed_content("target_transforms") if isinstance(t, InstancesToBinaryd)]
    assert len(to_binary) == 1 and to_binary[0].output_keys == ("label_binary",)
    target = np.asarray(to_binary[0]({"label": labels[None]})["label_binary"])[0] > 0.5
    seam = (labels > 0) & ~target
    assert set(np.nonzero(seam)[2]) == {19, 20} and seam.sum() == 2 * 8 * 12
    assert ndimage.label(target)[1] == 2 and ndimage.label(labels > 0)[1] == 1
    train["gap_width"] = 0
    to_binary = [t for t in train.get_parsed_content("target_transforms") if isinstance(t, InstancesToBinaryd)]
    assert ((np.asarray(to_binary[0]({"label": labels[None]})["label_binary"])[0] > 0.5) == (labels > 0)).all()

    # a network that learnt the seam: nucleus probability 0.27 there, 0.0003 on the background
    nucleus = np.where(target, 4.0, -4.0)
    nucleus[seam] = -1.0
    centres = np.array([[8, 12, 13], [8, 12, 27]])
    density = render_gaussian_density(centres, labels.shape, 1.0 / np.array(MODEL_SPACING))
    pred = MetaTensor(torch.as_tensor(np.stack([np.zeros_like(nucleus), nucleus, density]), dtype=torch.float32), affine=affine)
    image = MetaTensor(torch.as_tensor((labels > 0)[None], dtype=torch.float32), affine=affine)  # the seam is bright
    inference = ConfigParser()
    inference.read_config(BUNDLE / INFERENCE)
    assert inference["grow_voxels"] == 2
    for grow_voxels in (2, 0):
        inference["grow_voxels"] = grow_voxels
        chain = inference.get_parsed_content("segdet_postprocessing")
        out = Compose(chain)({"pred": pred, "image": image})
        instances, mask = np.asarray(out["instances"])[0], np.asarray(out["mask"])[0]
        assert set(np.unique(instances)) == {0, 1, 2}
        assert (instances[seam] > 0).all() == (grow_voxels > 0) and not (instances[labels == 0] > 0).any()
        assert (instances[seam] == labels[seam]).all() == (grow_voxels > 0)  # each nucleus takes its own side back
        assert ((instances > 0) <= (mask > 0)).all()
    # validation and evaluation (evaluate.json runs train.json's validation) grow the same way, after the watershed
    for parser, path in ((train, "validate#postprocessing_transforms"), (inference, "segdet_postprocessing")):
        parser["grow_voxels"] = 2
        transforms = parser.get_parsed_content(path)
        grow = next(i for i, t in enumerate(transforms) if isinstance(t, GrowInstancesd))
        assert isinstance(transforms[grow - 1], SeededWatershedd)
        # off by default (measured, not adopted); --split_probability_weight w adds w reference diameters of
        # distance where the nucleus probability is 0, so that touching nuclei part at its dip
        watershed = transforms[grow - 1]
        assert watershed.flood == "seed_distance" and watershed.logits_key == "seg" and watershed.probability_weight == 0
        parser["split_probability_weight"] = 1.0
        watershed = next(t for t in parser.get_parsed_content(path) if isinstance(t, SeededWatershedd))
        assert watershed.probability_weight == pytest.approx(parser["reference_diameter_um"]) == pytest.approx(6.5)
        parser["split_probability_weight"] = 0.0
        assert transforms[grow].steps == 2 and transforms[grow].threshold == 0.1 and transforms[grow].mask_key == "mask"
        # then the trim (release 0.4.0) cuts every instance back to its bright part of the image
        assert isinstance(transforms[grow + 1], TrimInstancesd)
        trim = transforms[grow + 1]
        assert trim.fraction == 0.5 and trim.image_key == "image" and trim.mask_key == "mask"


def test_inference_trims_an_isolated_nucleus_drawn_too_fat_back_to_its_bright_part():
    """``trim_fraction`` (default 0.5): a network mask two voxels wider than the nucleus in the image loses
    the dark rim; ``0`` keeps the grown instance as it is."""
    from monai.bundle import ConfigParser
    from monai.data import MetaTensor
    from monai.transforms import Compose
    from scipy import ndimage

    from cellbundles.transforms import render_gaussian_density

    affine = torch.diag(torch.tensor([*MODEL_SPACING, 1.0]))
    grid = np.indices((16, 28, 28))
    radius = np.sqrt(sum((axis - c) ** 2 for axis, c in zip(grid, (8, 14, 14))))
    nucleus, drawn = radius <= 5, radius <= 7
    density = render_gaussian_density(np.array([[8, 14, 14]]), nucleus.shape, 1.0 / np.array(MODEL_SPACING))
    logits = np.where(drawn, 4.0, -4.0)
    pred = MetaTensor(torch.as_tensor(np.stack([np.zeros_like(logits), logits, density]), dtype=torch.float32), affine=affine)
    image = MetaTensor(torch.as_tensor(ndimage.gaussian_filter(nucleus * 100.0 + 10.0, 1.0)[None], dtype=torch.float32), affine=affine)
    inference = ConfigParser()
    inference.read_config(BUNDLE / INFERENCE)
    assert inference["trim_fraction"] == 0.5
    volumes = {}
    for fraction in (0.5, 0.0):
        inference["trim_fraction"] = fraction
        out = Compose(inference.get_parsed_content("segdet_postprocessing"))({"pred": pred, "image": image})
        instances, mask = np.asarray(out["instances"])[0], np.asarray(out["mask"])[0]
        assert set(np.unique(instances)) == {0, 1} and (nucleus <= (instances == 1)).all()
        assert ((instances > 0) == (mask > 0)).all()
        volumes[fraction] = int((instances == 1).sum())
    assert volumes[0.0] >= drawn.sum() and volumes[0.5] < nucleus.sum() + 0.6 * (drawn.sum() - nucleus.sum())
