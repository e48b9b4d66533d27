"""scripts/benchmark_dsb2018.py report stage: table and training-curve figure from a finished work folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from cellbundles.networks import semantic_network

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark_dsb2018.py"
METRICS = {
    "test_pixel_iou": 0.8123,
    "test_pixel_precision": 0.9,
    "test_pixel_recall": 0.88,
    "test_pixel_f1": 0.8911,
    "test_accuracy_iou0.5": 0.4567,
    "test_instance_f1_iou0.5": 0.61,
    "test_dsb_score": 0.3456,
}


def _finished_run(work: Path) -> None:
    """A simple-CNN run as the train and evaluate stages leave it: 3 epochs, best at epoch 2."""
    run = work / "simple_cnn"
    (run / "train").mkdir(parents=True)
    (run / "test").mkdir()
    (run / "models").mkdir()
    rows = ["epoch,train_loss,lr,epoch_seconds,elapsed_seconds,val_pixel_iou,val_accuracy_iou0.5"]
    rows += ["1,1.5,0.001,30,30,0.5,0.2", "2,1.2,0.001,30,60,0.7,0.3", "3,1.1,0.001,30,90,0.6,0.25"]
    (run / "train" / "training_history.csv").write_text("\n".join(rows) + "\n")
    (run / "test" / "metrics.json").write_text(json.dumps({"metrics": METRICS}))
    (run / "test" / "summary.json").write_text(json.dumps({"n_images": 24, "total_seconds": 12.0}))
    torch.save(semantic_network("simple_cnn").state_dict(), run / "models" / "model.pt")


def test_report_stage_writes_the_table_and_the_curves(tmp_path):
    _finished_run(tmp_path / "work")
    out = tmp_path / "docs" / "benchmarks"
    command = [sys.executable, str(SCRIPT), "--models", "simple_cnn", "--stages", "report"]
    command += ["--work_dir", str(tmp_path / "work"), "--output_dir", str(out)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)

    markdown = (out / "dsb2018.md").read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| Simple CNN"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    # parameters, training minutes, epochs (best), pixel IoU, pixel F1, accuracy, instance F1, DSB, ms / image
    assert cells[1:10] == ["22,661", "1.5", "3 (2)", "0.812", "0.891", "0.457", "0.610", "0.346", "500"]
    assert (tmp_path / "docs" / "figures" / "dsb2018_training_curves.png").stat().st_size > 10_000
    report = json.loads((out / "dsb2018.json").read_text())
    assert report["models"]["simple_cnn"]["best_epoch"] == 2
    assert report["models"]["simple_cnn"]["test"] == METRICS


def _report(work: Path, out: Path, models: list[str]) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), "--models", *models, "--stages", "report"]
    command += ["--work_dir", str(work), "--output_dir", str(out)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_report_carries_rows_of_models_not_in_the_work_folder(tmp_path):
    _finished_run(tmp_path / "work")
    out = tmp_path / "docs" / "benchmarks"
    out.mkdir(parents=True)
    unet = {"parameters": 1948163, "epochs": 13, "best_epoch": 3, "training_minutes": 9.7, "n_test_images": 24,
            "history": [{"epoch": "1", "train_loss": "1.0", "val_pixel_iou": "0.6"}],
            "test": {**METRICS, "test_pixel_iou": 0.726}, "inference_ms_per_image": 911.0}  # fmt: skip
    shipped = {"test": METRICS, "inference_ms_per_image": 330.0}
    earlier = {"machine": {"date": "2026-01-02T03:04:05+00:00"}, "models": {"unet": unet},
               "shipped": {"nuclei_semantic_2d": shipped}}  # fmt: skip
    (out / "dsb2018.json").write_text(json.dumps(earlier))
    assert _report(tmp_path / "work", out, ["simple_cnn", "unet"]).returncode == 0

    markdown = (out / "dsb2018.md").read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| U-Net"))
    assert "| 1,948,163 | 9.7 | 13 (3) | 0.726 |" in row
    assert "carried unchanged from an earlier run of this script: U-Net (seed 003) (2026-01-02)." in markdown
    assert "Simple CNN (seed 003) (" not in markdown  # measured now
    assert "`nuclei_semantic_2d` (U-Net, seeded watershed) | 0.812 |" in markdown
    report = json.loads((out / "dsb2018.json").read_text())
    assert report["models"]["unet"]["measured"] == "2026-01-02T03:04:05+00:00"
    assert report["models"]["simple_cnn"]["measured"][:10] == report["machine"]["date"][:10]


def test_report_names_the_missing_results(tmp_path):
    result = _report(tmp_path / "work", tmp_path / "out", ["unet"])
    assert result.returncode != 0
    assert "unet" in result.stderr and "metrics.json is missing" in result.stderr


def _benchmark_module():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import benchmark_dsb2018
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return benchmark_dsb2018


def test_scores_by_image_type_of_written_instances(tmp_path):
    # exact instances on fluorescence images, nothing found on the others: known pixel IoU and accuracy
    from cellbundles.io import read_labels, write_image

    bench = _benchmark_module()
    image_type = {s["id"]: s["modality_guess"] for s in json.loads((bench.DATASET / "manifest.json").read_text())["samples"]}
    test_items = json.loads((bench.REPO / "bundles" / "nuclei_resunet_2d" / "configs" / "datalist.json").read_text())["test"]
    nuclei = {"all": 0}
    for item in test_items:
        stem = Path(item["image"]).stem
        truth = read_labels(bench.DATASET / item["label"])[0].squeeze()
        found = truth if image_type[stem] == "fluorescence" else 0 * truth
        write_image(tmp_path / f"{stem}_instances.tif", found)
        count = len(set(truth.ravel().tolist()) - {0})
        nuclei[image_type[stem]] = nuclei.get(image_type[stem], 0) + count
        nuclei["all"] += count

    scores = bench.scores_by_image_type(tmp_path, "nuclei_resunet_2d")
    assert set(scores) == set(nuclei) and {"fluorescence", "color_stain"} <= set(scores)
    assert scores["all"]["n_images"] == len(test_items)
    for group, result in scores.items():
        assert result["n_nuclei"] == nuclei[group]
    assert scores["fluorescence"]["pixel_iou"] == 1.0 and scores["fluorescence"]["accuracy_iou0.5"] == 1.0
    assert scores["color_stain"]["pixel_iou"] == 0.0 and scores["color_stain"]["accuracy_iou0.5"] == 0.0
    assert scores["all"]["accuracy_iou0.5"] == nuclei["fluorescence"] / nuclei["all"]

    table = "\n".join(bench.by_image_type_table({"nuclei_resunet_2d": {"by_image_type": scores}}))
    assert f"fluorescence ({scores['fluorescence']['n_images']} images, {nuclei['fluorescence']} nuclei)" in table
    assert "| 0.000 / 0.000 | 1.000 / 1.000 |" in table  # color_stain, fluorescence
