#!/usr/bin/env python
"""The DSB2018 test images altered: how the 2D default and the classical baseline hold up off the training data.

Every test image of ``--datalist`` (``data/splits/dsb2018_stage1_train_full.json``) is altered one way at a
time and written with its (equally altered) annotation into ``<work_dir>/<alteration>`` in the canonical
layout; then a network row of ``scripts/benchmark_dsb2018.py`` (``--network_row``, default the ``nuclei_resunet_2d``
default) runs there with its shipped weights (``evaluate.json`` through ``python -m monai.bundle run``) and so does the classical
baseline (Otsu + distance-transform watershed). Alterations:

- ``half size`` / ``double size``: image resampled x0.5 / x2 (linear, anti-aliased), labels by nearest
  neighbour: nuclei half / twice as wide as any the network saw at that size;
- ``noise``: Gaussian noise, its standard deviation 10 % of the image's own range (99.8th minus 1st
  percentile of the colour channels; DSB2018 fluorescence fields often span only a few dozen grey levels),
  the same in every colour channel (grey images stored as RGB stay grey) and none in the alpha channel;
- ``dim``: intensities x0.25, rounded to 8 bits (a dim, coarsely quantised field).

Writes ``docs/benchmarks/dsb2018_shift.{md,json}`` (another ``--network_row``: ``dsb2018_shift_<row>.{md,json}``).

Usage::

    python scripts/benchmark_dsb2018_shift.py --dataset_dir DSB2018_FULL
    python scripts/benchmark_dsb2018_shift.py --dataset_dir DSB2018_FULL --network_row maskrcnn --alterations none "half size" "double size"
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark import write_report  # noqa: E402
from benchmark_dsb2018 import (  # noqa: E402
    CLASSICAL,
    DATALIST,
    DATASET_DIR,
    IMAGE_TYPES,
    LABELS,
    ROWS,
    evaluate_classical,
    evaluate_row,
    require_dataset,
    row_label,
)

ALTERATIONS = ("none", "half size", "double size", "noise", "dim")
NETWORK_ROW = "resunet_split"
SEED = 0


def alter(
    image: np.ndarray, labels: np.ndarray, alteration: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One alteration of a uint8 ``(H, W[, C])`` image and its ``(H, W)`` instance labels (see the module docstring)."""
    from skimage.transform import resize

    if alteration in ("half size", "double size"):
        factor = 0.5 if alteration == "half size" else 2.0
        shape = tuple(max(1, round(size * factor)) for size in labels.shape)
        resized = resize(image, shape + image.shape[2:], order=1, preserve_range=True, anti_aliasing=factor < 1)
        image = np.clip(np.round(resized), 0, 255)
        labels = resize(labels, shape, order=0, preserve_range=True, anti_aliasing=False)
    elif alteration == "noise":
        colour = image[..., :3] if image.ndim == 3 else image
        low, high = np.percentile(colour, (1.0, 99.8))
        noise = rng.normal(0.0, 0.1 * max(high - low, 1.0), colour.shape[:2])
        noisy = np.clip(np.round(colour + (noise[..., None] if image.ndim == 3 else noise)), 0, 255)
        image = np.concatenate([noisy, image[..., 3:]], axis=-1) if image.ndim == 3 else noisy
    elif alteration == "dim":
        image = np.round(image * 0.25)
    elif alteration != "none":
        raise ValueError(f"unknown alteration {alteration!r}; expected one of {ALTERATIONS}.")
    return image.astype(np.uint8), labels.astype(np.uint16)


def write_altered_dataset(dataset_dir: Path, datalist: Path, alteration: str, out: Path) -> Path:
    """The test section of ``datalist`` altered into ``out`` (images/, labels/, manifest.json); its datalist path."""
    from cellbundles.data import load_datalist
    from cellbundles.io import image_stem, read_image, read_labels, write_image

    rng = np.random.default_rng(SEED)
    items = load_datalist(datalist, "test", base_dir=dataset_dir)
    test = []
    for item in items:
        stem = image_stem(item["image"])
        image, labels = alter(read_image(item["image"])[0], read_labels(item["label"])[0], alteration, rng)
        write_image(out / "images" / f"{stem}.png", image, rgb=image.ndim == 3)
        write_image(out / "labels" / f"{stem}.png", labels)
        test.append({"image": f"images/{stem}.png", "label": f"labels/{stem}.png"})
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({"samples": manifest["samples"]}))
    altered_datalist = out / "datalist.json"
    altered_datalist.write_text(json.dumps({"training": [], "validation": [], "test": test}, indent=1))
    return altered_datalist


def _bold_better(network: float, baseline: float) -> str:
    """``network / baseline`` with the higher of the two in bold (neither on a tie)."""
    left, right = f"{network:.3f}", f"{baseline:.3f}"
    if network != baseline:
        left, right = (f"**{left}**", right) if network > baseline else (left, f"**{right}**")
    return f"{left} / {right}"


def markdown(results: dict, network_row: str = NETWORK_ROW) -> str:
    """Tables of accuracy@0.5 per alteration and image type, network beside the baseline."""
    methods = {network_row: row_label(network_row), CLASSICAL: LABELS[CLASSICAL]}
    n_images = next(iter(results.values()))[network_row]["all"]["n_images"]
    lines = [
        f"Each row alters every one of the {n_images} test images of `dsb2018_stage1_train_full.json` the same way "
        "(annotations altered alike; `scripts/benchmark_dsb2018_shift.py` says how) and scores the shipped "
        f"`{ROWS[network_row][0]}` ({row_label(network_row)}) and the classical baseline on the result, with the same metrics as "
        "`dsb2018.md`. Cells: accuracy@0.5, network / baseline; the better of the two in bold.",
        "",
        "| alteration | " + " | ".join(IMAGE_TYPES) + " | network DSB score / baseline |",
        "| --- | " + " | ".join("---:" for _ in IMAGE_TYPES) + " | ---: |",
    ]
    for alteration, rows in results.items():
        accuracy = {name: {t: rows[name][t]["accuracy_iou0.5"] for t in IMAGE_TYPES} for name in methods}
        cells = [_bold_better(accuracy[network_row][t], accuracy[CLASSICAL][t]) for t in IMAGE_TYPES]
        dsb = " / ".join(f"{rows[name]['all']['dsb_score']:.3f}" for name in methods)
        lines.append(f"| {alteration} | " + " | ".join(cells) + f" | {dsb} |")
    lines += ["", "Methods: " + "; ".join(methods.values()) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset_dir", type=Path, default=DATASET_DIR, help="dataset folder in the canonical layout")
    parser.add_argument("--datalist", type=Path, default=DATALIST, help="datalist with the fixed split")
    parser.add_argument("--alterations", nargs="+", default=list(ALTERATIONS), choices=ALTERATIONS)
    parser.add_argument("--work_dir", type=Path, default=REPO / "outputs" / "dsb2018_shift")
    parser.add_argument("--output_dir", type=Path, default=REPO / "docs" / "benchmarks")
    parser.add_argument("--network_row", default=NETWORK_ROW, choices=list(ROWS), help="network row of benchmark_dsb2018.py")
    args = parser.parse_args(argv)
    require_dataset(args.dataset_dir)
    results = {}
    for alteration in args.alterations:
        folder = args.work_dir / alteration.replace(" ", "_")
        print(f"[{alteration}] writing the altered test images into {folder / 'data'}", flush=True)
        datalist = write_altered_dataset(args.dataset_dir, args.datalist, alteration, folder / "data")
        network = evaluate_row(args.network_row, None, folder / "data", datalist, folder)
        baseline = evaluate_classical(folder / "data", datalist, folder)
        results[alteration] = {args.network_row: network["by_image_type"], CLASSICAL: baseline["by_image_type"]}
    command = shlex.join(["python", "scripts/benchmark_dsb2018_shift.py", *(sys.argv[1:] if argv is None else argv)])
    body = markdown(results, args.network_row)
    name = "dsb2018_shift" if args.network_row == NETWORK_ROW else f"dsb2018_shift_{args.network_row}"
    write_report(name, {"alterations": results}, body, args.output_dir, command=command)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
