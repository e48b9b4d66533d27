"""A real MONAI Label server with the cellbundles app, on 127.0.0.1, driven over HTTP as a viewer drives it.

The server (``python -m cellbundles.label``) serves a copy of every servable bundle and a studies folder
of three held-out DSB2018 images and one 3D phantom; the test stops it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monailabel")
requests = pytest.importorskip("requests")

from cellbundles.data.samples import DSB_HELD_OUT_IMAGES, SAMPLES_DIR  # noqa: E402
from cellbundles.io import read_image, write_image  # noqa: E402
from cellbundles.label.server_app.main import is_servable  # noqa: E402

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SERVED = sorted(path.name for path in (REPO / "bundles").iterdir() if is_servable(path))
DSB = list(DSB_HELD_OUT_IMAGES[:3])
PHANTOM = "phantom_3d"
CELLS = "cells_2ch"  # nucleus and cell planes of one TIFF, for two-channel bundles
PHANTOM_SPACING = (0.8, 0.5, 0.5)
TRAINED = "nuclei_semantic_2d"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Start the server; yield its URL, studies and bundles folders; stop it."""
    from cellbundles.synth import cells2d, nuclei3d

    root = tmp_path_factory.mktemp("monailabel")
    studies, bundles = root / "studies", root / "bundles"
    studies.mkdir()
    for stem in DSB:
        shutil.copy(SAMPLES_DIR / "dsb2018_stage1_train" / "images" / f"{stem}.png", studies)
    phantom = nuclei3d(shape=(32, 64, 64), spacing=PHANTOM_SPACING, seed=np.random.SeedSequence([7, 0]))
    write_image(studies / f"{PHANTOM}.tif", phantom["image"], PHANTOM_SPACING)
    write_image(studies / f"{CELLS}.tif", cells2d(shape=(128, 128), n_cells=5, seed=0)["image"])
    for name in sorted(path.name for path in (REPO / "bundles").iterdir() if (path / "configs").is_dir()):
        shutil.copytree(REPO / "bundles" / name, bundles / name, ignore=shutil.ignore_patterns("eval"))
    port = _free_port()
    command = [sys.executable, "-m", "cellbundles.label", "--port", str(port)]
    command += ["--studies", str(studies), "--bundles_dir", str(bundles)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MONAI_LABEL_AUTO_UPDATE_SCORING": "false"}
    log = open(root / "server.log", "w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert process.poll() is None, (root / "server.log").read_text()[-3000:]
            try:
                if requests.get(f"{url}/info/", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /info/ within 240 s"
            time.sleep(2)
        yield {"url": url, "studies": studies, "bundles": bundles, "log": root / "server.log"}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        log.close()


def _infer(server, model: str, image: str, path: Path) -> tuple[np.ndarray, tuple | None]:
    response = requests.post(
        f"{server['url']}/infer/{model}",
        params={"image": image, "output": "image"},
        files={"params": (None, json.dumps({"device": "cpu"}))},
        timeout=300,
    )
    assert response.ok, response.text
    path.write_bytes(response.content)
    return read_image(path)


def _put_label(server, image: str, path: Path) -> None:
    with open(path, "rb") as label:
        response = requests.put(
            f"{server['url']}/datastore/label", params={"image": image, "tag": "final"}, files={"label": label}, timeout=60
        )
    assert response.ok, response.text


def _train(server, model: str, **params) -> dict:
    response = requests.post(f"{server['url']}/train/{model}", params={"run_sync": True}, json=params, timeout=600)
    assert response.ok, response.text
    return response.json()


def test_info_lists_every_bundle_with_its_tasks(server):
    info = requests.get(f"{server['url']}/info/", timeout=30).json()
    assert sorted(info["models"]) == SERVED
    assert sorted(info["trainers"]) == SERVED
    assert sorted(info["scoring"]) == sorted(info["strategies"]) == [f"uncertainty_{name}" for name in SERVED]
    for name in SERVED:
        assert info["models"][name]["labels"] == {"nucleus": 1}
        assert info["models"][name]["config"]["label_kind"].startswith("instances")


def _test_image(model: str) -> tuple[str, str, tuple[int, ...]]:
    """The study a bundle is tried on: its id, file name and shape of its label."""
    inputs = json.loads((REPO / "bundles" / model / "configs" / "metadata.json").read_text())["network_data_format"]["inputs"]
    if model.endswith("_3d"):
        return PHANTOM, f"{PHANTOM}.tif", (32, 64, 64)
    if inputs["image"].get("num_channels") == 2:
        return CELLS, f"{CELLS}.tif", (128, 128)
    return DSB[0], f"{DSB[0]}.png", read_image(SAMPLES_DIR / "dsb2018_stage1_train" / "images" / f"{DSB[0]}.png")[0].shape[:2]


@pytest.mark.parametrize("model", SERVED)
def test_infer_returns_the_bundles_instances_on_the_image_grid(server, model, tmp_path):
    from cellbundles.label import CellBundleInferTask

    image, name, shape = _test_image(model)
    label, spacing = _infer(server, model, image, tmp_path / f"label{Path(name).suffix}")
    assert label.shape == shape
    if model.endswith("_3d"):
        assert spacing == pytest.approx(PHANTOM_SPACING)
    # the same label as the infer task in this process (itself checked against the bundle's own output)
    task = CellBundleInferTask(str(server["bundles"] / model), conf={})
    label_file, _ = task({"image": str(server["studies"] / name), "device": "cpu"})
    np.testing.assert_array_equal(label, read_image(label_file)[0])
    os.unlink(label_file)


def test_active_learning_serves_the_least_certain_image(server):
    for model in (TRAINED, "nuclei_segdet_3d"):
        response = requests.post(f"{server['url']}/scoring/uncertainty_{model}", params={"run_sync": True}, json={}, timeout=600)
        assert response.ok, response.text
    datastore = requests.get(f"{server['url']}/datastore/", params={"output": "all"}, timeout=30).json()["objects"]
    unlabelled = sorted(image for image, item in datastore.items() if not item["labels"])
    scores = {}
    for image in unlabelled:
        info = requests.get(f"{server['url']}/datastore/image/info", params={"image": image}, timeout=30).json()
        scores[image] = info.get(f"uncertainty_{TRAINED}")
    assert scores[PHANTOM] is None  # a 3D stack is not scored by a 2D bundle
    scored = {image: score for image, score in scores.items() if score is not None}
    assert scored and all(0.0 <= score <= 1.0 for score in scored.values())
    served = requests.post(f"{server['url']}/activelearning/uncertainty_{TRAINED}", json={}, timeout=60).json()
    assert served["id"] == max(scored, key=lambda image: (scored[image], image))
    served = requests.post(f"{server['url']}/activelearning/uncertainty_nuclei_segdet_3d", json={}, timeout=60).json()
    assert served["id"] == PHANTOM and 0.0 <= served["uncertainty_nuclei_segdet_3d"] <= 1.0


def test_annotate_and_train_twice(server, tmp_path):
    """Submit corrected labels, train, change a label, train again: every request is a fresh fine-tuning run."""
    import torch

    for stem in DSB[:2]:
        label, _ = _infer(server, TRAINED, stem, tmp_path / f"{stem}.png")
        _put_label(server, stem, tmp_path / f"{stem}.png")
    model_pt = server["bundles"] / TRAINED / "models" / "model.pt"
    reports = []
    for round_ in range(2):
        before = model_pt.read_bytes()
        report = _train(server, TRAINED, max_epochs=1)
        run = Path(report["run"])
        assert report["max_epochs"] == 1 and report["training_images"] and report["validation_images"]
        assert not set(report["training_images"]) & set(report["validation_images"])
        assert json.loads((run / "report.json").read_text()) == report
        assert (run / "models" / "model.pt").is_file()  # a fresh run, never a resumed one
        assert report["model_replaced"] == (report["after"] > report["before"])
        expected = (run / "models" / "model.pt").read_bytes() if report["model_replaced"] else before
        assert model_pt.read_bytes() == expected
        reports.append(report)
        if round_ == 0:  # an annotator erases the larger half of the nuclei of both labels
            for stem in DSB[:2]:
                label, _ = read_image(tmp_path / f"{stem}.png")
                ids, sizes = np.unique(label[label > 0], return_counts=True)
                label[np.isin(label, ids[sizes >= np.median(sizes)])] = 0
                write_image(tmp_path / f"{stem}.png", label)
                _put_label(server, stem, tmp_path / f"{stem}.png")
    first, second = (Path(report["run"]) for report in reports)
    assert first != second
    assert reports[1]["before"] != reports[0]["before"]  # the second run validates on the changed label...
    weights = [torch.load(run / "models" / "model.pt", map_location="cpu", weights_only=True) for run in (first, second)]
    assert any(not torch.equal(weights[0][key], weights[1][key]) for key in weights[0])  # ...and trains on it


def test_a_3d_label_from_infer_trains(server, tmp_path):
    """The label MONAI Label returns for a 3D stack carries its voxel size, so it trains as submitted."""
    model = "nuclei_segdet_3d"
    label, spacing = _infer(server, model, PHANTOM, tmp_path / "phantom_label.tif")
    assert spacing == pytest.approx(PHANTOM_SPACING)
    _put_label(server, PHANTOM, tmp_path / "phantom_label.tif")
    report = _train(server, model, max_epochs=1)
    assert report["training_images"] == report["validation_images"] and report["validation_is_training"]
    assert Path(report["training_images"][0]).name == f"{PHANTOM}.tif"
    assert (Path(report["run"]) / "models" / "model.pt").is_file()
