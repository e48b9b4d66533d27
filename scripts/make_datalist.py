#!/usr/bin/env python
"""Write a MONAI datalist with a fixed training / validation / test split of any dataset folder in the canonical layout.

Usage::

    python scripts/make_datalist.py --dataset_dir /path/to/dsb2018_stage1_train_full \\
        --output dsb2018_full_datalist.json --val_fraction 0.05 --test_fraction 0.10 --stratify

With ``--stratify`` the split is drawn within the groups of the folder's ``manifest.json`` (one group per
``modality_guess`` and image size, the manifest layout of the vendored DSB2018 data), so that every section
has the image types and sizes of the whole set. ``--repeat_training brightfield=4`` lists every training image
of that ``modality_guess`` 4 times (the split itself is unchanged), so that a rare image type is drawn more
often. Paths in the datalist are relative to the dataset folder: pass the same folder as the bundles'
``--dataset_dir``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cellbundles.data import build_datalist, write_datalist

STRATA_FIELDS = ("modality_guess", "height", "width")
"""Manifest fields of a sample whose values, joined, name its group in a stratified split."""


def manifest_samples(dataset_dir: Path, option: str) -> list[dict]:
    """The ``samples`` of ``dataset_dir/manifest.json``, which ``option`` needs."""
    manifest_path = dataset_dir / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path}: {option} needs the dataset's manifest.json with a 'samples' list.")
    return json.loads(manifest_path.read_text(encoding="utf-8")).get("samples", [])


def manifest_strata(samples: list[dict]) -> dict[str, str]:
    """Group name (modality and size) of every manifest sample."""
    return {sample["id"]: " ".join(str(sample.get(field, "")) for field in STRATA_FIELDS) for sample in samples}


def parse_repeats(values: list[str]) -> dict[str, int]:
    """``["brightfield=4"]`` -> ``{"brightfield": 4}``; a clear ``ValueError`` for anything else."""
    repeats = {}
    for value in values:
        modality, _, count = value.partition("=")
        if not modality or not count.isdigit() or int(count) < 1:
            raise ValueError(f"--repeat_training takes MODALITY=N with N >= 1, got {value!r}.")
        repeats[modality] = int(count)
    return repeats


def repeat_training(datalist: dict, samples: list[dict], repeats: dict[str, int]) -> None:
    """List each training item ``repeats[its modality_guess]`` times (once when its modality is not named)."""
    modality = {sample["id"]: sample.get("modality_guess", "") for sample in samples}
    extra = []
    for item in datalist["training"]:
        extra += [item] * (repeats.get(modality.get(Path(item["image"]).stem, ""), 1) - 1)
    datalist["training"] = datalist["training"] + extra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset_dir", required=True, type=Path, help="folder with images/ and labels/")
    parser.add_argument("--output", required=True, type=Path, help="datalist JSON file to write")
    parser.add_argument("--val_fraction", type=float, default=0.05)
    parser.add_argument("--test_fraction", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stratify", action="store_true", help="split within the manifest's modality/size groups")
    parser.add_argument("--repeat_training", nargs="+", default=[], metavar="MODALITY=N",
                        help="list the training images of a manifest modality_guess N times")
    args = parser.parse_args(argv)
    try:
        repeats = parse_repeats(args.repeat_training)
        options = [name for name, used in (("--stratify", args.stratify), ("--repeat_training", repeats)) if used]
        samples = manifest_samples(args.dataset_dir, " and ".join(options)) if options else []
        strata = manifest_strata(samples) if args.stratify else None
        datalist = build_datalist(
            args.dataset_dir,
            val_fraction=args.val_fraction,
            test_fraction=args.test_fraction,
            seed=args.seed,
            strata=strata,
        )
        if repeats:
            repeat_training(datalist, samples, repeats)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for section in ("training", "validation", "test"):
        for item in datalist[section]:
            if item.get("spacing") is None:
                item.pop("spacing", None)  # a null entry would stop PyTorch's collate; no spacing means pixels
    datalist["description"] = (
        f"fixed split of {args.dataset_dir.name}: val_fraction {args.val_fraction}, test_fraction "
        f"{args.test_fraction}, seed {args.seed}, {'stratified by ' + ', '.join(STRATA_FIELDS) if strata else 'random'}"
        + (f"; training images repeated: {', '.join(args.repeat_training)}" if args.repeat_training else "")
        + "; paths relative to dataset_dir"
    )
    write_datalist(args.output, datalist)
    counts = ", ".join(f"{section} {len(datalist[section])}" for section in ("training", "validation", "test"))
    print(f"wrote {args.output}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
