from __future__ import annotations

import json

import monai
import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset
from monai.engines import SupervisedEvaluator
from monai.handlers import MeanDice, from_engine
from monai.transforms import Lambda

import cellbundles
from cellbundles.engines import MetricsJSONHandler, OutputSummaryHandler, package_versions


def _add_summary(item):
    """Per-item record as SaveOutputsd writes it: numbers are summed into the totals, text and the
    per-image diameter are not."""
    n_foreground = int(item["label"].sum())
    record = {"image": item["id"], "n_centroids": n_foreground, "count": 0.5, "flag": "x", "nucleus_diameter_um": 7.0}
    return {**item, "summary": record}


def _evaluator(tmp_path):
    label = torch.zeros(1, 6, 6)
    first, second = label.clone(), label.clone()
    first[0, 1:3, 1:3] = 1
    second[0, 2:5, 2:4] = 1
    data = [{"id": "a", "image": first, "label": first}, {"id": "b", "image": second, "label": second}]
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"),
        val_data_loader=DataLoader(Dataset(data), batch_size=2, num_workers=0),
        network=torch.nn.Identity(),
        postprocessing=Lambda(_add_summary),
        key_val_metric={
            "val_mean_dice": MeanDice(
                include_background=True, output_transform=from_engine(["pred", "label"]), save_details=True
            )
        },
    )
    OutputSummaryHandler(tmp_path / "out").attach(evaluator)
    MetricsJSONHandler(tmp_path / "out").attach(evaluator)
    return evaluator


def test_package_versions():
    versions = package_versions()
    assert versions["cellbundles"] == cellbundles.__version__
    assert versions["monai"] == monai.__version__
    assert versions["torch"] == torch.__version__
    assert versions["numpy"] == np.__version__
    assert versions["python"].count(".") == 2


def test_summary_and_metrics_files(tmp_path):
    evaluator = _evaluator(tmp_path)
    evaluator.run()

    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_images"] == 2
    assert [record["image"] for record in summary["images"]] == ["a", "b"]
    assert [record["n_centroids"] for record in summary["images"]] == [4, 6]
    assert all(record["seconds"] >= 0 and record["flag"] == "x" for record in summary["images"])
    assert summary["totals"] == {"n_centroids": 10, "count": pytest.approx(1.0)}
    assert summary["total_seconds"] >= summary["images"][0]["seconds"]
    assert summary["device"] == "cpu"
    assert summary["versions"] == package_versions()

    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["metrics"] == {"val_mean_dice": pytest.approx(1.0)}
    assert np.asarray(metrics["per_image"]["val_mean_dice"]).reshape(-1).tolist() == pytest.approx([1.0, 1.0])
    assert metrics["versions"] == package_versions()
    assert not [path.name for path in (tmp_path / "out").iterdir() if path.name.startswith(".")]


def test_a_second_run_starts_a_new_summary(tmp_path):
    evaluator = _evaluator(tmp_path)
    evaluator.run()
    evaluator.run()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_images"] == 2 and summary["totals"]["n_centroids"] == 10
