#!/usr/bin/env python
"""DSB2018 benchmark of the 2D semantic nuclei models (seed 002's ResUNet and seed 003's three variants).

Trains each model with its bundle's ``train.json`` on the fixed split of the vendored DSB2018 subset
(``configs/datalist.json``: 78 training, 18 validation, 24 test images), evaluates the best
checkpoint on the 24 held-out test images with ``evaluate.json``, evaluates the two bundles' shipped
weights the same way (the ResUNet's with and without the split of touching nuclei), and writes
``docs/benchmarks/dsb2018.{md,json}`` with a table and a figure of the training curves: our
reproduction of seed 003's Table 1 and seed 002's Table 4. Every step is ``python -m monai.bundle run``
with overrides, as a user would type it.

Usage::

    python scripts/benchmark_dsb2018.py                      # train (or resume), evaluate, shipped, report
    python scripts/benchmark_dsb2018.py --stages report      # only rebuild the report
    python scripts/benchmark_dsb2018.py --models unet --max_epochs 1 --work_dir /tmp/dsb --output_dir /tmp/dsb

Training resumes from the last checkpoint of ``<work_dir>/<model>/models`` when it is run again.
The report takes the rows of models without results in ``<work_dir>`` (and the shipped rows, when
the ``shipped`` stage is not run) unchanged from the previous ``dsb2018.json``, and says so under the
table with the date each row was measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark import machine_description, write_report  # noqa: E402

from cellbundles.bundle_run import run_bundle  # noqa: E402
from cellbundles.engines import read_history  # noqa: E402

DATASET = REPO / "data" / "samples" / "dsb2018_stage1_train"

# seed 002's instances: connected components of the mask (the bundle's default splits touching nuclei)
CONNECTED_COMPONENTS = {"split_h": 0.0, "fill_holes": False}
# name -> (bundle folder, overrides, epochs). Epochs: seed 003 Table 2 for its variants (simple CNN
# 15, ResNet 40, U-Net 20); seed 002 stopped its ResUNet after 25-60 epochs, we allow 40.
MODELS = {
    "resunet": ("nuclei_resunet_2d", CONNECTED_COMPONENTS, 40),
    "unet": ("nuclei_semantic_2d", {"network_name": "unet"}, 20),
    "resnet_fcn": ("nuclei_semantic_2d", {"network_name": "resnet_fcn"}, 40),
    "simple_cnn": ("nuclei_semantic_2d", {"network_name": "simple_cnn"}, 15),
}
# shipped-weights rows: name -> (bundle folder, overrides, table label)
SHIPPED = {
    "nuclei_resunet_2d": ("nuclei_resunet_2d", {}, "`nuclei_resunet_2d` (default: touching nuclei split)"),
    "nuclei_resunet_2d_components": (
        "nuclei_resunet_2d", CONNECTED_COMPONENTS, "`nuclei_resunet_2d`, connected components (seed 002)"),
    "nuclei_semantic_2d": ("nuclei_semantic_2d", {}, "`nuclei_semantic_2d` (U-Net, seeded watershed)"),
}  # fmt: skip
LABELS = {
    "resunet": "ResUNet (seed 002)",
    "unet": "U-Net (seed 003)",
    "resnet_fcn": "ResNet FCN (seed 003)",
    "simple_cnn": "Simple CNN (seed 003)",
}
# published numbers on DSB2018 (different splits and protocols, see the report's notes)
PUBLISHED = {
    "resunet": "IoU 0.949 (validation, seed 002 Table 4)",
    "unet": "mean IoU 0.83 (seed 003 Table 1)",
    "resnet_fcn": "mean IoU 0.77 (seed 003 Table 1)",
    "simple_cnn": "mean IoU 0.62 (seed 003 Table 1)",
}


def run_stage(name: str, stage: str, work_dir: Path, max_epochs: int | None = None) -> None:
    """Train ``name`` with its bundle's train.json into ``<work_dir>/<name>/{models,train}`` (resuming
    from its last checkpoint if there is one), or evaluate its best checkpoint on the held-out test
    images with evaluate.json into ``<work_dir>/<name>/test``."""
    bundle, overrides, epochs = MODELS[name]
    out = work_dir / name
    overrides = {**overrides, "dataset_dir": str(DATASET), "ckpt_dir": str(out / "models")}
    if stage == "train":
        configs = ["train.json"]
        overrides = {**overrides, "output_dir": str(out / "train"), "max_epochs": max_epochs or epochs}
    else:
        configs, overrides = ["train.json", "evaluate.json"], {**overrides, "output_dir": str(out / "test")}
    print(f"[{name}] {stage}, log: {out / f'{stage}.log'}", flush=True)
    seconds = run_bundle(REPO / "bundles" / bundle, configs, overrides, log_file=out / f"{stage}.log")
    print(f"[{name}] {stage} done in {seconds / 60:.1f} min", flush=True)


def evaluate_shipped(name: str, work_dir: Path) -> dict:
    """Test metrics and inference time of a bundle's shipped ``models/model.pt`` (its default network)."""
    bundle, overrides, _ = SHIPPED[name]
    out = work_dir / f"shipped_{name}"
    models = REPO / "bundles" / bundle / "models"
    overrides = {**overrides, "dataset_dir": str(DATASET), "ckpt_dir": str(models), "output_dir": str(out)}
    print(f"[{name}] evaluating the shipped weights, log: {out}.log", flush=True)
    run_bundle(REPO / "bundles" / bundle, ["train.json", "evaluate.json"], overrides, log_file=f"{out}.log")
    summary = json.loads((out / "summary.json").read_text())
    return {
        "test": json.loads((out / "metrics.json").read_text())["metrics"],
        "inference_ms_per_image": 1000 * summary["total_seconds"] / max(summary["n_images"], 1),
        "by_image_type": scores_by_image_type(out, bundle),
    }


def scores_by_image_type(eval_dir: Path, bundle: str) -> dict:
    """Pixel IoU (mean over images) and accuracy@0.5 (micro) of the instances that an evaluate run wrote
    into ``eval_dir``, per image type of the dataset manifest (``modality_guess``: fluorescence,
    brightfield, color_stain) and over all test images."""
    import numpy as np

    from cellbundles.data import load_datalist
    from cellbundles.io import image_stem, read_labels
    from cellbundles.metrics import match_instances_dataset, pixel_scores

    image_type = {s["id"]: s["modality_guess"] for s in json.loads((DATASET / "manifest.json").read_text())["samples"]}
    datalist = load_datalist(REPO / "bundles" / bundle / "configs" / "datalist.json", "test", base_dir=DATASET)
    pairs: dict[str, list] = {}
    for item in datalist:
        stem = image_stem(item["image"])
        truth = read_labels(item["label"])[0].squeeze()
        pred = read_labels(eval_dir / f"{stem}_instances.tif")[0].squeeze()
        for group in (image_type[stem], "all"):
            pairs.setdefault(group, []).append((truth, pred))
    scores = {}
    for group, images in sorted(pairs.items()):
        truths, preds = zip(*images)
        matching = match_instances_dataset(truths, preds, thresh=0.5)
        scores[group] = {
            "n_images": len(images),
            "n_nuclei": matching.n_true,
            "pixel_iou": float(np.mean([pixel_scores(t > 0, p > 0)["iou"] for t, p in images])),
            "accuracy_iou0.5": matching.accuracy,
        }
    return scores


def collect(name: str, work_dir: Path) -> dict:
    """The numbers of one model: parameters, training history and test metrics."""
    from cellbundles.networks import count_parameters

    out = work_dir / name
    history = read_history(out / "train" / "training_history.csv")
    metrics = json.loads((out / "test" / "metrics.json").read_text())
    summary = json.loads((out / "test" / "summary.json").read_text())
    validation = [float(row["val_pixel_iou"]) for row in history if row.get("val_pixel_iou")]
    return {
        "parameters": count_parameters(_network(name)),
        "epochs": len(history),
        "best_epoch": 1 + max(range(len(validation)), key=validation.__getitem__) if validation else None,
        "training_minutes": float(history[-1]["elapsed_seconds"]) / 60 if history else None,
        "history": history,
        "test": metrics["metrics"],
        "inference_ms_per_image": 1000 * summary["total_seconds"] / max(summary["n_images"], 1),
        "n_test_images": summary["n_images"],
    }


def gather(names: list[str], work_dir: Path, previous: dict, date: str) -> dict:
    """Each model's numbers from ``work_dir``, or, for a model without results there, its row of the
    previous report (``previous["models"]``); every row records the date it was ``measured``."""
    results = {}
    for name in names:
        if (work_dir / name / "test" / "metrics.json").exists():
            results[name] = {**collect(name, work_dir), "measured": date}
        elif name in previous.get("models", {}):
            results[name] = {"measured": previous["machine"]["date"], **previous["models"][name]}
        else:
            raise FileNotFoundError(
                f"{work_dir / name / 'test' / 'metrics.json'} is missing and no earlier report holds {name!r}: "
                "run its train and evaluate stages first."
            )
    return results


def carried_note(rows: dict, labels: dict, date: str) -> list[str]:
    """A line naming the rows measured before this run, with their dates (none: no line)."""
    carried = [f"{labels[name]} ({row['measured'][:10]})" for name, row in rows.items() if row["measured"] != date]
    if not carried:
        return []
    return ["", "Rows carried unchanged from an earlier run of this script: " + ", ".join(carried) + "."]


def _network(name: str):
    """The network of ``name`` as its bundle builds it."""
    from monai.bundle import ConfigParser

    bundle, overrides, _ = MODELS[name]
    parser = ConfigParser()
    parser.read_config(REPO / "bundles" / bundle / "configs" / "train.json")
    for key, value in overrides.items():
        parser[key] = value
    return parser.get_parsed_content("network_def")


def draw_curves(results: dict, path: Path) -> None:
    """Training loss and validation pixel IoU / accuracy per epoch, one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = (("train_loss", "training loss (Dice + CE)"), ("val_pixel_iou", "validation pixel IoU"),
               ("val_accuracy_iou0.5", "validation accuracy at IoU 0.5"))  # fmt: skip
    figure, axes = plt.subplots(1, len(columns), figsize=(5 * len(columns), 4), constrained_layout=True)
    for name, result in results.items():
        for axis, (column, title) in zip(axes, columns):
            rows = [row for row in result["history"] if row.get(column)]
            axis.plot([int(row["epoch"]) for row in rows], [float(row[column]) for row in rows], label=LABELS[name])
            axis.set_title(title)
            axis.set_xlabel("epoch")
    axes[0].legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _test_cells(result: dict) -> str:
    """Table cells: pixel IoU, pixel F1, accuracy@0.5, instance F1@0.5, DSB score, inference ms per image."""
    test = result["test"]
    names = ("test_pixel_iou", "test_pixel_f1", "test_accuracy_iou0.5", "test_instance_f1_iou0.5", "test_dsb_score")
    return " | ".join([*(f"{test[name]:.3f}" for name in names), f"{result['inference_ms_per_image']:.0f}"])


def by_image_type_table(shipped: dict) -> list[str]:
    """Lines of a table of the shipped weights' pixel IoU and accuracy@0.5 per image type (none without data)."""
    rows = {name: r["by_image_type"] for name, r in shipped.items() if "by_image_type" in r}
    if not rows:
        return []
    groups = sorted({group for scores in rows.values() for group in scores if group != "all"}) + ["all"]
    first = next(iter(rows.values()))
    header = " | ".join(f"{g} ({first[g]['n_images']} images, {first[g]['n_nuclei']} nuclei)" for g in groups)
    lines = [
        "",
        "The same runs by image type (the manifest's `modality_guess`); pixel IoU (mean over images) / "
        "accuracy@0.5. StarDist's 0.864 is on fluorescence images only:",
        "",
        f"| bundle | {header} |",
        "| --- |" + " ---: |" * len(groups),
    ]
    for name, scores in rows.items():
        cells = " | ".join(f"{scores[g]['pixel_iou']:.3f} / {scores[g]['accuracy_iou0.5']:.3f}" for g in groups)
        lines.append(f"| {SHIPPED[name][2]} | {cells} |")
    return lines


def markdown(results: dict, shipped: dict, figure: str, date: str) -> str:
    """The report body: tables, figure, protocol and its differences from the papers."""
    lines = [
        "Trained and evaluated with the bundles' own configs (`python -m monai.bundle run`), on the vendored "
        "DSB2018 stage1_train subset (120 images, 5662 nuclei) with the fixed split of `configs/datalist.json`: "
        "78 training, 18 validation (learning-rate schedule, early stopping, best checkpoint), "
        "24 test images never seen in training or model selection. Metrics on the test images, full "
        "resolution, sliding window 256x256.",
        "",
        "| model | parameters | training min | epochs (best) | pixel IoU | pixel F1 | accuracy@0.5 | "
        "instance F1@0.5 | DSB score | inference ms / image | published |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, r in results.items():
        training = f"{r['parameters']:,} | {r['training_minutes']:.1f} | {r['epochs']} ({r['best_epoch']})"
        lines.append(f"| {LABELS[name]} | {training} | {_test_cells(r)} | {PUBLISHED[name]} |")
    lines += carried_note(results, LABELS, date)
    if shipped:
        lines += [
            "",
            "Shipped weights (`bundles/<bundle>/models/model.pt`, see each bundle's README for how they were "
            "trained), same 24 test images:",
            "",
            "| bundle | pixel IoU | pixel F1 | accuracy@0.5 | instance F1@0.5 | DSB score | inference ms / image |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [f"| {SHIPPED[name][2]} | {_test_cells(r)} |" for name, r in shipped.items()]
        lines += carried_note(shipped, {name: SHIPPED[name][2] for name in shipped}, date)
        lines += by_image_type_table(shipped)
    lines += [
        "",
        f"![training curves]({figure})",
        "",
        "Inference time: mean wall-clock per test image of the evaluate run (loading, sliding-window "
        "network, post-processing, metrics, writing). Training minutes and inference times are wall-clock "
        "on the machine below; when it ran other jobs at the same time (the `epoch_seconds` column of each "
        "`training_history.csv` shows it) they are upper bounds.",
        "",
        "## Differences from the papers' protocols",
        "",
        "- Data: a 120-image subset of stage1_train (the papers use all 670 images, split 90/10 or with "
        "Kaggle's stage-1 test set); every image is converted to one channel in [0, 1] (percentiles 1 and "
        "99.8), brightfield and stained images inverted (`ToSingleChanneld(invert='auto')`).",
        "- Input size: random 256x256 crops for training and a 256x256 sliding window over the full image "
        "for inference; seed 002 resizes every image to 256x256 (which shrinks the nuclei of the large images).",
        "- Optimiser: Adam, lr 1e-3, batch 8 for all four; seed 003 uses Adam lr 0.1 (simple CNN), Adadelta "
        "lr 0.1 (ResNet), Adam lr 0.01 (U-Net) with batches 32/10/16. lr x0.1 after 5 epochs and stop after 10 "
        "epochs without improvement of the validation pixel IoU (seed 002's rule, applied to all).",
        "- ResUNet widths 32-64-128-256 (3.6 M parameters) instead of the paper's 64-512 (14.5 M), to train on "
        "this CPU; its output is up-sampled to full resolution (the paper's is half size).",
        "- Seed 003's networks predict 3 classes (background, interior, border) and instances come from a "
        "seeded watershed; seed 002's ResUNet predicts 2 classes and instances are connected components (the "
        "ResUNet row); the shipped `nuclei_resunet_2d` splits touching nuclei by default (its README).",
        "- Seed 003's 'accuracy' is pixel accuracy and its IoU the mean IoU; seed 002's IoU is on its own "
        "validation split. The instance metrics (accuracy TP/(TP+FP+FN) at IoU 0.5, the DSB score averaged "
        "over IoU 0.5-0.95) are what StarDist and the Kaggle challenge report.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--stages", nargs="+", default=["train", "evaluate", "shipped", "report"],
                        choices=["train", "evaluate", "shipped", "report"])  # fmt: skip
    parser.add_argument("--work_dir", type=Path, default=REPO / "outputs" / "dsb2018")
    parser.add_argument("--output_dir", type=Path, default=REPO / "docs" / "benchmarks")
    parser.add_argument("--max_epochs", type=int, default=None, help="override every model's epoch count")
    args = parser.parse_args(argv)
    for name in args.models:
        for stage in ("train", "evaluate"):
            if stage in args.stages:
                run_stage(name, stage, args.work_dir, args.max_epochs)
    date = machine_description()["date"]
    report_path = args.output_dir / "dsb2018.json"
    previous = json.loads(report_path.read_text()) if report_path.exists() else {}
    if "shipped" in args.stages:
        shipped = {name: {**evaluate_shipped(name, args.work_dir), "measured": date} for name in SHIPPED}
    else:
        shipped = {name: {"measured": previous["machine"]["date"], **row} for name, row in previous.get("shipped", {}).items()
                   if name in SHIPPED}  # fmt: skip
    if "report" in args.stages:
        results = gather(args.models, args.work_dir, previous, date)
        figure = args.output_dir.parent / "figures" / "dsb2018_training_curves.png"
        draw_curves(results, figure)
        body = markdown(results, shipped, Path("..", "figures", figure.name).as_posix(), date)
        payload = {"models": results, "shipped": shipped}
        write_report("dsb2018", payload, body, args.output_dir, command="python scripts/benchmark_dsb2018.py")
        print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
