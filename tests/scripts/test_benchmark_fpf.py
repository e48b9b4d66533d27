"""Pieces of ``scripts/benchmark.py fpf``: the classical baseline row and the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cellbundles.io import read_image
from cellbundles.metrics import match_instances
from cellbundles.synth.dataset import write_dataset


@pytest.fixture(scope="module")
def test_phantoms(tmp_path_factory):
    """Four small clustered cells2d phantoms, three in the test section (as ``evaluate.json`` writes them)."""
    folder = tmp_path_factory.mktemp("fpf_clustered")
    write_dataset(folder, "cells2d", 4, seed=2, shape=(128, 128), n_cells=5, clustering=1.0, val_fraction=0.0,
                  test_fraction=0.75)  # fmt: skip
    return folder


def _test_labels(folder):
    items = json.loads((folder / "datalist.json").read_text())["test"]
    assert len(items) == 3
    return [read_image(folder / item["label"])[0] for item in items]


def test_a_baseline_that_returns_the_truth_scores_one_everywhere(benchmark, test_phantoms, monkeypatch):
    truths = iter(_test_labels(test_phantoms))
    monkeypatch.setattr("cellbundles.postprocess.classical_cells", lambda *args, **kwargs: next(truths).astype(np.int32))
    metrics = benchmark.fpf_classical_metrics(test_phantoms)
    assert metrics == {"test_mask_ap": 1.0, "test_mask_ap50": 1.0, "test_box_ap": 1.0, "test_accuracy_iou0.5": 1.0,
                       "test_dsb_score": 1.0}  # fmt: skip


def test_the_baseline_row_pools_its_matches_over_the_test_images(benchmark, test_phantoms):
    from monai.transforms import ScaleIntensityRangePercentiles

    from cellbundles.postprocess import classical_cells

    scale = ScaleIntensityRangePercentiles(1.0, 99.8, 0.0, 1.0, clip=True, channel_wise=True)
    items = json.loads((test_phantoms / "datalist.json").read_text())["test"]
    tp = fp = fn = 0
    for item, truth in zip(items, _test_labels(test_phantoms)):
        image = np.asarray(scale(read_image(test_phantoms / item["image"])[0].astype(np.float32)))
        result = match_instances(truth, classical_cells(image[0], image[1], 18.0, min_size=30), 0.5)
        tp, fp, fn = tp + result.tp, fp + result.fp, fn + result.fn
    metrics = benchmark.fpf_classical_metrics(test_phantoms)
    assert metrics["test_accuracy_iou0.5"] == pytest.approx(tp / (tp + fp + fn), abs=1e-4)
    assert 0.0 < metrics["test_mask_ap"] <= metrics["test_mask_ap50"] <= 1.0


def test_the_report_puts_the_baseline_beside_the_networks_at_one_min_score(benchmark):
    scores = {"test_mask_ap": 0.5, "test_box_ap": 0.5, "test_mask_ap50": 0.8, "test_accuracy_iou0.5": 0.7,
              "test_dsb_score": 0.4}  # fmt: skip
    results = {"epochs": 5, "nucleus_epochs": 6, "nucleus_train_minutes": 9.9, "min_score": 0.85, "variants": {
        benchmark.FPF_VARIANTS["plain"][0]: {"train_minutes": 12.0, "clustered, rules off": scores},
        benchmark.FPF_CLASSICAL: {"train_minutes": 0.0, "clustered, rules off": {**scores, "test_mask_ap": 0.25}},
    }}  # fmt: skip
    report = benchmark._fpf_markdown(results)
    assert "detections scoring >= `min_score` 0.85" in report
    assert f"| {benchmark.FPF_CLASSICAL} | clustered | off | 0.250 | -50.0% | 0.500 | 0.800 | 0.700 | 0.400 | 0.0 |" in report
