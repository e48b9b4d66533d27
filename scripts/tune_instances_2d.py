#!/usr/bin/env python
"""Choose the instance post-processing of ``nuclei_resunet_2d`` on the validation images.

The network runs once per image (the bundle's ``train.json`` preprocessing and sliding-window inferer,
weights ``--ckpt_dir/model.pt``); every setting of :class:`cellbundles.transforms.InstancesFromDistanced`
in the grid is then scored on the cached logits (accuracy and F1 at IoU 0.5, micro-averaged like the
benchmark). The test section is never read. Prints a table and writes ``--output`` (JSON).

Usage::

    python scripts/tune_instances_2d.py --dataset_dir DSB2018_FULL \
        --datalist data/splits/dsb2018_stage1_train_full.json --ckpt_dir bundles/nuclei_resunet_2d/models
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import torch
from monai.bundle import ConfigParser

from cellbundles.data import load_datalist
from cellbundles.metrics import match_instances_dataset
from cellbundles.transforms import InstancesFromDistanced

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "nuclei_resunet_2d"
GRID = {
    "split": {"threshold": [0.4, 0.5, 0.6], "split_h": [0.5, 1.0, 1.5, 2.0, 3.0]},
    "distance": {"threshold": [0.4, 0.5, 0.6], "seed_threshold": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]},
}


def validation_logits(args: argparse.Namespace) -> tuple[list[torch.Tensor], list]:
    """Network logits ``(3, H, W)`` and ground-truth labels of every image of ``--section``."""
    parser = ConfigParser()
    parser.read_config(BUNDLE / "configs" / "train.json")
    parser.update({"bundle_root": str(BUNDLE), "dataset_dir": args.dataset_dir, "datalist": args.datalist})
    network = parser.get_parsed_content("network")
    network.load_state_dict(torch.load(Path(args.ckpt_dir) / "model.pt", map_location="cpu", weights_only=True))
    network.float().eval()
    preprocessing = parser.get_parsed_content("validate#preprocessing")
    inferer = parser.get_parsed_content("validate#inferer")
    items = load_datalist(args.datalist, args.section, base_dir=args.dataset_dir)
    logits, labels = [], []
    for index, item in enumerate(items, start=1):
        sample = preprocessing({key: item[key] for key in ("image", "label")})
        with torch.no_grad():
            logits.append(inferer(sample["image"][None].float(), network)[0])
        labels.append(sample["label"][0].numpy())
        print(f"[{index}/{len(items)}] {item['image']}", flush=True)
    return logits, labels


def score_grid(logits: list[torch.Tensor], labels: list, fixed: dict) -> list[dict]:
    """Accuracy and F1 at IoU 0.5 of every setting of :data:`GRID`, with the ``fixed`` settings beside them."""
    rows = []
    for method, grid in GRID.items():
        for values in itertools.product(*grid.values()):
            setting = {"method": method, **dict(zip(grid, values)), **fixed}
            transform = InstancesFromDistanced(keys="pred", **setting)
            predictions = [transform({"pred": output})["instances"][0].numpy() for output in logits]
            result = match_instances_dataset(labels, predictions, thresh=0.5)
            rows.append({**setting, "accuracy": result.accuracy, "f1": result.f1})
            print(f"{setting}: accuracy@0.5 {result.accuracy:.4f} F1 {result.f1:.4f}", flush=True)
    return sorted(rows, key=lambda row: -row["accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset_dir", required=True)
    parser.add_argument("--datalist", required=True)
    parser.add_argument("--ckpt_dir", default=str(BUNDLE / "models"))
    parser.add_argument("--section", default="validation", choices=["training", "validation"])
    parser.add_argument("--min_size", type=int, default=15)
    parser.add_argument("--output", default="outputs/tune_instances_2d.json")
    args = parser.parse_args()
    logits, labels = validation_logits(args)
    config = ConfigParser.load_config_file(BUNDLE / "configs" / "train.json")
    fixed = {"min_size": args.min_size, "grow": config["gap_width"], "grow_threshold": config["grow_threshold"]}
    rows = score_grid(logits, labels, fixed)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"ckpt_dir": args.ckpt_dir, "section": args.section, "rows": rows}, indent=2))
    print("best:", rows[0])


if __name__ == "__main__":
    main()
