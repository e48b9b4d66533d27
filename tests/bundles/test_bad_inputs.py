"""Bad and odd input files, every bundle, run the way users run them (issue 17).

Every bundle under ``bundles/`` is covered; what it accepts follows the spatial dimensions its
``metadata.json`` states (see :mod:`bad_inputs`). A bad file must stop the run with the file's name and
the cause on the last line of the output, and leave nothing in the output folder; an odd but valid file
must be processed, with a line saying what was done.

A ``python -m monai.bundle run`` child process spends most of its ~10 s importing torch and MONAI, so
every case runs through ``monai.bundle.run`` (what that command calls) in the test process, and a few per
bundle run as child processes to check the exit code and the last line the user reads:

- inference: every bad file in-process; one child process per bundle on a bad file, one on a folder of
  all the odd files; a weights file of another network and one that carries pickled code in-process;
- training and evaluation: a label of another shape and one with non-integer values in-process, and one
  child process each.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from cellbundles.errors import PREFIX, cause_line
from cellbundles.io import write_image

from bad_inputs import BAD, ODD, SPACING, Case, cases, nuclei, write_pickled_weights
from bundle_cli import run_monai_bundle

BUNDLES = Path(__file__).resolve().parents[2] / "bundles"
NAMES = sorted(path.parents[1].name for path in BUNDLES.glob("*/configs/metadata.json"))
INFERENCE = "configs/inference.json"
TRAIN = "configs/train.json"
EVALUATE = ["configs/train.json", "configs/evaluate.json"]


def _input_format(name: str) -> dict:
    metadata = json.loads((BUNDLES / name / "configs" / "metadata.json").read_text())
    return metadata["network_data_format"]["inputs"]["image"]


def spatial_dims(name: str) -> int:
    """The spatial dimensions of a bundle's network input, from its ``metadata.json``."""
    return len(_input_format(name)["spatial_shape"])


def channels(name: str) -> int:
    """The input channels of a bundle (2: a nucleus and a cell stain stored as two planes, cells_fpf_2d)."""
    return int(_input_format(name)["num_channels"])


TWO_CHANNEL_CAUSE = "expected a 2-channel image stored as 2 planes"
"""What a two-channel bundle says of a file that is not a two-plane image (the corpus is single-channel)."""


def _for_bundle(case: Case, name: str) -> Case:
    """``case`` with the cause a two-channel bundle gives when its reader accepts the file but it is no pair of planes."""
    if channels(name) == 2 and case.name in ("stack", "channel_last"):
        return dataclasses.replace(case, cause=TWO_CHANNEL_CAUSE)
    return case


CASES = [(name, _for_bundle(case, name)) for name in NAMES for case in cases(BAD, spatial_dims(name))]


def _run(name: str, configs: str | list[str], **overrides) -> BaseException | None:
    """``monai.bundle.run`` of a bundle in this process (its logging left as it is); the error it raised."""
    from monai.bundle import run

    files = [str(BUNDLES / name / config) for config in ([configs] if isinstance(configs, str) else configs)]
    try:
        run(config_file=files, bundle_root=str(BUNDLES / name), logging_file=False, **overrides)
    except Exception as error:
        return error
    return None


def _written(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def _assert_refused(error: BaseException | None, path: Path, cause: str, output: Path) -> None:
    """The run failed, its cause names ``path`` and matches ``cause``, and nothing was written to ``output``."""
    assert error is not None, f"{path.name} was accepted"
    line = cause_line(error)
    assert str(path) in line and re.search(cause, line), line
    assert not output.exists() or _written(output) == []


@pytest.mark.slow
@pytest.mark.parametrize("name,case", CASES, ids=[f"{name}-{case.name}" for name, case in CASES])
def test_inference_refuses_a_bad_file(tmp_path, name, case):
    path = case.write(tmp_path, spatial_dims(name))
    error = _run(name, INFERENCE, dataset_dir=str(path), output_dir=str(tmp_path / "out"))
    _assert_refused(error, path, case.cause, tmp_path / "out")


def _shape(dims: int) -> tuple[int, ...]:
    return (16, 48, 48) if dims == 3 else (48, 48)


def _image(folder: Path, dims: int, n_channels: int = 1) -> Path:
    """A valid image with its voxel size; two channels: two planes (nucleus and cell stain), no voxel size."""
    if n_channels == 2:
        write_image(folder / "cells.tif", np.stack([nuclei(_shape(dims)), nuclei(_shape(dims), seed=1)]))
    else:
        write_image(folder / "cells.tif", nuclei(_shape(dims)), SPACING[dims])
    return folder / "cells.tif"


def _other_weights(name: str) -> Path:
    """The shipped weights of another bundle (another network)."""
    return next(path for path in sorted(BUNDLES.glob("*/models/model.pt")) if path.parents[1].name != name)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_inference_refuses_weights_of_another_network(tmp_path, name):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(_other_weights(name), models / "model.pt")
    image = _image(tmp_path, spatial_dims(name), channels(name))
    error = _run(name, INFERENCE, dataset_dir=str(image), ckpt_dir=str(models), output_dir=str(tmp_path / "out"))
    _assert_refused(error, models / "model.pt", "weights do not fit model", tmp_path / "out")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_inference_refuses_weights_that_carry_pickled_code(tmp_path, name, capfd):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(BUNDLES / name / INFERENCE))
    state = parser.get_parsed_content("network_def").state_dict()
    weights = write_pickled_weights(tmp_path / "models" / "model.pt", state)
    image = _image(tmp_path, spatial_dims(name), channels(name))
    out = tmp_path / "out"
    error = _run(name, INFERENCE, dataset_dir=str(image), ckpt_dir=str(weights.parent), output_dir=str(out))
    _assert_refused(error, weights, "refused to load.*GLOBAL print.*weights_only=True", out)
    assert "PAYLOAD RAN" not in capfd.readouterr().out


def _dataset(root: Path, dims: int, problem: str, n_channels: int = 1) -> Path:
    """A dataset folder (images/, labels/, datalist.json with every section) of one image whose label has
    ``problem``: ``"shape"`` (another shape) or ``"values"`` (non-integer values)."""
    image, label = _image(root / "images", dims, n_channels), root / "labels" / "cells.tif"
    labels = (nuclei(_shape(dims)) > 20000).astype(np.float32)
    if problem == "shape":
        labels = labels[..., :40]
    else:
        labels[labels > 0] = 0.5
    write_image(label, labels, SPACING[dims])
    pair = [{"image": str(image), "label": str(label)}]
    (root / "datalist.json").write_text(json.dumps({"training": pair, "validation": pair, "test": pair}))
    return label


PROBLEMS = {"shape": "does not match the spatial shape", "values": "whole numbers"}


def _labelled_run(tmp_path: Path, name: str, problem: str) -> tuple[dict[str, str], Path]:
    """The overrides of a training or evaluation run on :func:`_dataset`, and its label file."""
    label = _dataset(tmp_path / "data", spatial_dims(name), problem, channels(name))
    overrides = {"dataset_dir": str(tmp_path / "data"), "datalist": str(tmp_path / "data" / "datalist.json")}
    overrides.update(data_source="datalist", output_dir=str(tmp_path / "out"))
    return overrides, label


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["train", "evaluate"])
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("name", NAMES)
def test_training_and_evaluation_refuse_a_bad_label(tmp_path, name, problem, mode):
    overrides, label = _labelled_run(tmp_path, name, problem)
    ckpt_dir = tmp_path / "models" if mode == "train" else BUNDLES / name / "models"
    error = _run(name, TRAIN if mode == "train" else EVALUATE, ckpt_dir=str(ckpt_dir), **overrides)
    _assert_refused(error, label, PROBLEMS[problem], tmp_path / "out")
    assert mode == "evaluate" or not ckpt_dir.exists() or _written(ckpt_dir) == []


def _last_line(output: str) -> str:
    return output.rstrip().splitlines()[-1]


def _assert_cli_refused(code: int, output: str, path: Path, cause: str, out: Path) -> None:
    """What the user reads after a refused file: a non-zero exit, the cause on the last line, no output."""
    assert code != 0
    last = _last_line(output)
    assert last.startswith(PREFIX) and str(path) in last and re.search(cause, last), last
    assert not out.exists() or _written(out) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_cli_inference_ends_with_the_cause(tmp_path, name):
    """The issue's examples: a 5D TIFF (2D bundles), a stack without voxel size (3D bundles, with the hint)."""
    case = next(case for case in BAD if case.name == ("no_voxel_size" if spatial_dims(name) == 3 else "five_d"))
    path = case.write(tmp_path, spatial_dims(name))
    args = ["run", "--config_file", INFERENCE, "--bundle_root", ".", "--dataset_dir", str(path)]
    code, output = run_monai_bundle(*args, "--output_dir", str(tmp_path / "out"), cwd=BUNDLES / name, check=False)
    _assert_cli_refused(code, output, path, case.cause, tmp_path / "out")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_cli_training_and_evaluation_end_with_the_cause(tmp_path, name):
    for mode, problem, configs in (("train", "shape", TRAIN), ("evaluate", "values", json.dumps(EVALUATE))):
        overrides, label = _labelled_run(tmp_path / mode, name, problem)
        ckpt_dir = tmp_path / mode / "models" if mode == "train" else BUNDLES / name / "models"
        args = ["run", "--config_file", configs, "--bundle_root", ".", "--ckpt_dir", str(ckpt_dir)]
        args += [item for key, value in overrides.items() for item in (f"--{key}", value)]
        code, output = run_monai_bundle(*args, cwd=BUNDLES / name, check=False)
        _assert_cli_refused(code, output, label, PROBLEMS[problem], tmp_path / mode / "out")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_cli_inference_processes_odd_files_and_says_what_it_did(tmp_path, name):
    if channels(name) == 2:
        pytest.skip("the odd files are single-channel: a two-channel bundle refuses them (test below)")
    odd = cases(ODD, spatial_dims(name))
    (tmp_path / "inputs").mkdir()
    paths = [case.write(tmp_path / "inputs", spatial_dims(name)) for case in odd]
    args = ["run", "--config_file", INFERENCE, "--bundle_root", ".", "--dataset_dir", str(tmp_path / "inputs")]
    _, output = run_monai_bundle(*args, "--output_dir", str(tmp_path / "out"), cwd=BUNDLES / name)
    for case, path in zip(odd, paths):
        said = [line for line in output.splitlines() if str(path) in line]
        assert any(re.search(case.cause, line) for line in said), (case.name, said)
        assert any(written.startswith(path.name.split(".")[0] + "_instances") for written in _written(tmp_path / "out"))
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["n_images"] == len(odd)


TWO_CHANNEL = [(name, case) for name in NAMES if channels(name) == 2 for case in cases(ODD, spatial_dims(name))]


@pytest.mark.slow
@pytest.mark.parametrize("name,case", TWO_CHANNEL, ids=[f"{name}-{case.name}" for name, case in TWO_CHANNEL])
def test_two_channel_bundles_refuse_single_channel_files(tmp_path, name, case):
    path = case.write(tmp_path, spatial_dims(name))
    error = _run(name, INFERENCE, dataset_dir=str(path), output_dir=str(tmp_path / "out"))
    _assert_refused(error, path, TWO_CHANNEL_CAUSE + ".*single-channel", tmp_path / "out")
