#!/usr/bin/env python
"""Score post-processing variants of ``nuclei_segdet_3d`` on validation volumes, with oracle seeds and masks.

The network runs once per volume (``inference.json``'s preprocessing and sliding-window inferer, weights
``--weights``); each variant (overrides of ``inference.json``, ``--variants``) then runs the bundle's own
post-processing chain and its inversion to the input grid, and is scored like ``scripts/benchmark.py robustness``
(instance F1 at IoU 0.5, centroid F1, Dice, count error). ``--oracle`` adds two diagnostic columns that show where
instances are lost: the network's mask flooded from the true centroids (``oracle seeds``), and the true mask flooded
from the network's centroids (``oracle mask``), both with the bundle's nearest-seed flooding and no growth or trim.

Validation volumes, never test ones: the phantom sets of :data:`VALIDATION_PHANTOMS` (the robustness benchmark's
medium setting with one property changed, seeds used neither in training nor in that benchmark) and, with
``--segdet_data``, the real volumes of the validation section of ``scripts/prepare_segdet_data.py``'s datalist.
Prints a table (mean instance F1 / centroid F1 per set) and writes ``--output`` (JSON, per-volume scores).

Usage::

    python scripts/tune_instances_3d.py --segdet_data /data/segdet_train --oracle \\
        --variants '{"separation 0.6": {"min_distance_fraction": 0.6}}'
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch
from monai.bundle import ConfigParser

from cellbundles.io import read_image
from cellbundles.metrics.centroids import instance_centroids
from cellbundles.postprocess import seeded_watershed
from cellbundles.synth.dataset import write_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "scripts"))
from benchmark import ROBUSTNESS_MEDIUM, SEGDET_BUNDLE, volume_scores  # noqa: E402

VALIDATION_PHANTOMS = {
    "sparse": (22100, 4, {"packing": 0.05}),
    "medium": (22300, 3, {}),
    "crowded": (21000, 2, {"packing": 0.6}),
    "elongated": (23100, 2, {"elongation": 2.0}),
    "large": (23200, 2, {"radius_um": (6.0, 9.0)}),
    "z step 6 x": (23300, 2, {"spacing": (3.0, 0.5, 0.5)}),
    "PSF ratio 4": (23400, 2, {"psf_axial_ratio": 4.0, "packing": 0.2}),
}
"""Set name -> (seed, volumes, changes to the robustness benchmark's medium setting)."""
ORACLES = ("oracle seeds", "oracle mask")


def validation_sets(args: argparse.Namespace) -> dict[str, list[tuple[Path, Path]]]:
    """Set name -> (image, label) files: the phantom sets of ``--sets`` and the real validation volumes."""
    sets = {}
    for name in args.sets:
        seed, volumes, changes = VALIDATION_PHANTOMS[name]
        folder = args.work / name.replace(" ", "_")
        if not (folder / "datalist.json").exists():
            volumes = min(volumes, args.max_volumes)
            write_dataset(folder, "nuclei3d_random", volumes, seed=seed, val_fraction=0.0, **{**ROBUSTNESS_MEDIUM, **changes})
        images = sorted((folder / "images").iterdir())[: args.max_volumes]
        sets[name] = [(image, folder / "labels" / image.name) for image in images]
    if args.segdet_data is not None:
        for item in json.loads((args.segdet_data / "datalist.json").read_text())["validation"]:
            if Path(item["image"]).parts[0] == "real":  # its validation phantoms are drawn like the training ones
                name = f"real: {Path(item['image']).parts[1]}"
                sets.setdefault(name, []).append((args.segdet_data / item["image"], args.segdet_data / item["label"]))
    return sets


def bundle_parser(overrides: dict) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(SEGDET_BUNDLE / "configs" / "inference.json")
    parser.update({"bundle_root": str(SEGDET_BUNDLE), **overrides})
    return parser


def oracle_instances(name: str, result: dict, labels: np.ndarray, spacing) -> np.ndarray:
    """Nearest-seed flooding of the network's mask from the true centroids, or of the true mask from its centroids."""
    if name == "oracle seeds":
        mask, seeds = np.asarray(result["mask"])[0] > 0, instance_centroids(labels)[1]
    else:
        mask, seeds = labels > 0, np.asarray(result["input_centroids"]).reshape(-1, 3)
    return seeded_watershed(mask, seeds, spacing=spacing, unseeded="drop", flood="seed_distance")


def score_variants(args: argparse.Namespace, sets: dict, variants: dict) -> dict:
    """Per set, per variant: the scores of every volume (network run once per volume)."""
    base = bundle_parser(args.network)
    network = base.get_parsed_content("network")
    state = torch.load(args.weights, map_location="cpu", weights_only=True)
    network.load_state_dict(state.get("model", state))  # a model.pt or a train.json checkpoint
    network.float().eval()
    preprocessing, inferer = base.get_parsed_content("preprocessing"), base.get_parsed_content("inferer")
    to_input_grid = base.get_parsed_content("to_input_grid")  # inverts this very preprocessing
    chains = {name: bundle_parser({**args.network, **changes}).get_parsed_content("segdet_postprocessing") for name, changes in variants.items()}
    scores: dict = {}
    for set_name, pairs in sets.items():
        for image, label in pairs:
            sample = preprocessing({"image": str(image)})
            with torch.no_grad():
                sample["pred"] = inferer(sample["image"][None].float(), network)[0]
            labels, spacing = read_image(label)
            spacing = spacing or read_image(image)[1]  # labels without a voxel size: the image's
            for name, chain in chains.items():
                result = copy.deepcopy(sample)
                for transform in [*chain, *to_input_grid]:
                    result = transform(result)
                instances = {name: np.asarray(result["instances"])[0]}
                if args.oracle and name == "default":
                    instances.update({oracle: oracle_instances(oracle, result, labels, spacing) for oracle in ORACLES})
                for column, predicted in instances.items():
                    scores.setdefault(set_name, {}).setdefault(column, []).append({"volume": image.name, **volume_scores(labels, predicted, spacing)})
            row = scores[set_name]
            print(f"{set_name} / {image.name}: " + ", ".join(f"{c} {v[-1]['instance_f1']:.3f}" for c, v in row.items()), flush=True)
    return scores


def summary_table(scores: dict) -> str:
    """Markdown table: one row per column (variant or oracle), mean instance F1 / centroid F1 per set."""
    columns = list(next(iter(scores.values())))
    lines = ["| variant | " + " | ".join(scores) + " | mean instance F1 |", "| --- |" + " ---: |" * (len(scores) + 1)]
    for column in columns:
        means = [np.mean([v["instance_f1"] for v in scores[s][column]]) for s in scores]
        centroids = [np.mean([v["centroid_f1"] for v in scores[s][column]]) for s in scores]
        cells = [f"{m:.3f} / {c:.3f}" for m, c in zip(means, centroids)]
        lines.append(f"| {column} | " + " | ".join(cells) + f" | {np.mean(means):.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segdet_data", type=Path, default=None, help="folder of scripts/prepare_segdet_data.py")
    parser.add_argument("--sets", nargs="*", default=list(VALIDATION_PHANTOMS), choices=list(VALIDATION_PHANTOMS))
    parser.add_argument("--max_volumes", type=int, default=4, help="at most this many volumes per phantom set")
    parser.add_argument("--weights", type=Path, default=SEGDET_BUNDLE / "models" / "model.pt")
    parser.add_argument("--network", type=json.loads, default={},
                        help='overrides of the network, e.g. \'{"network_def#detection_input": "features"}\'')  # fmt: skip
    parser.add_argument("--variants", type=json.loads, default={}, help="name -> overrides of inference.json")
    parser.add_argument("--oracle", action="store_true", help="add the oracle seeds / oracle mask columns")
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "outputs" / "tune_instances_3d")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "outputs" / "tune_instances_3d.json")
    args = parser.parse_args()
    scores = score_variants(args, validation_sets(args), {"default": {}, **args.variants})
    table = summary_table(scores)
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"weights": str(args.weights), "network": args.network, "variants": args.variants,
                                       "table": table, "scores": scores}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
