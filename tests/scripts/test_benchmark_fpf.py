"""Pieces of ``scripts/benchmark.py fpf`` and ``fpf_shift``: the classical baseline row, the shifted test sets and the reports."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_every_shift_is_a_setting_of_the_phantom_generator(benchmark):
    import inspect

    from cellbundles.synth.cells import cells2d

    parameters = inspect.signature(cells2d).parameters
    assert benchmark.FPF_SHIFTS["training settings"] == {}
    for name, options in benchmark.FPF_SHIFTS.items():
        assert set(options) <= set(parameters), name


def test_the_shift_section_scores_every_set_beside_the_baseline(benchmark, tmp_path, monkeypatch):
    calls = []

    def fake_run(bundle, configs, overrides, log_file=None):
        calls.append(overrides)
        output = Path(overrides["output_dir"])
        assert overrides["datalist"] == str(tmp_path / "work" / output.name.split("_")[0] / "datalist.json")
        value = 1.0 if "cell_diameter_px" in overrides else 0.0
        metrics = {key: value for key in ("test_mask_ap", "test_box_ap", "test_mask_ap50", "test_dsb_score", "test_accuracy_iou0.5")}
        output.mkdir(parents=True)
        (output / "metrics.json").write_text(json.dumps({"metrics": metrics}))
        return 1.0

    monkeypatch.setattr(benchmark, "run_bundle", fake_run)
    args = benchmark.build_parser().parse_args(["fpf_shift", "--quick", "--work", str(tmp_path / "work")])
    results, report = benchmark.fpf_shift_section(args)
    assert len(calls) == 2 * len(benchmark.FPF_SHIFTS) and all(call["data_source"] == "datalist" for call in calls)
    assert list(results["sets"]) == list(benchmark.FPF_SHIFTS)
    for index, row in enumerate(results["sets"].values()):
        folder = tmp_path / "work" / f"set{index}"
        assert len(json.loads((folder / "datalist.json").read_text())["test"]) == 2
        assert row["median_cell_diameter_px"] == pytest.approx(benchmark._median_cell_diameter(folder), abs=0.05)
        given = [call for call in calls if call["dataset_dir"] == str(folder) and "cell_diameter_px" in call]
        assert [call["cell_diameter_px"] for call in given] == [row["median_cell_diameter_px"]]
        for method in ("classical", "classical_given_diameter"):
            assert 0.0 < row[method]["test_accuracy_iou0.5"] <= 1.0
    # the default network scored 0 everywhere, the told one 1: only the default rows are losses to the baseline
    lost = "; ".join(f"{name} (network: accuracy@0.5, mask AP, DSB score)" for name in benchmark.FPF_SHIFTS)
    assert "given the same size information: " + lost + "." in report
    again, _ = benchmark.fpf_shift_section(args)  # evaluations with a metrics.json are reused
    assert len(calls) == 2 * len(benchmark.FPF_SHIFTS) and again["sets"] == results["sets"]


def test_the_larger_cell_set_holds_larger_cells(benchmark, tmp_path):
    from cellbundles.postprocess import median_diameter_um

    base = {"shape": [128, 128], "n_cells": 5, "clustering": 0.85}
    sizes = []
    for name in ("cells x0.7", "training settings", "cells x1.4"):
        options = {**base, **benchmark.FPF_SHIFTS[name], "n_cells": 5}
        folder = write_dataset(tmp_path / name.replace(" ", "_"), "cells2d", 3, seed=5, val_fraction=0.0, **options).parent
        labels = [read_image(folder / item["label"])[0].astype(np.int32) for item in json.loads((folder / "datalist.json").read_text())["training"]]
        sizes.append(np.median([median_diameter_um(label) for label in labels]))
    assert sizes[0] < sizes[1] < sizes[2]
