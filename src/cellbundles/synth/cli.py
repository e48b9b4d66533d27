"""Command line that writes phantom datasets in the canonical layout (DESIGN.md section 5).

::

    python -m cellbundles.synth nuclei3d --n 10 --out data/phantoms3d --seed 0 --shape 64 128 128 --spacing 0.8 0.5 0.5
    python -m cellbundles.synth nuclei2d --n 20 --out data/phantoms2d
    python -m cellbundles.synth cells2d --n 20 --out data/cells2d --p-two-nuclei 0.1

Sample ``i`` is named ``<kind>_s<seed>_<i:03d>`` and generated from ``numpy.random.SeedSequence([seed, i])``, so a
sample is the same however many are generated. Files written under ``--out``:

- ``images/<id>.tif``: the image (cells2d: a ``(2, H, W)`` stack, nucleus then cytoplasm stain), with the spacing
  in the ImageJ metadata when there is one (nuclei3d always; 2D kinds when ``--spacing`` is given);
- ``labels/<id>.tif``: instance labels (cells2d: the cells), uint16;
- ``centroids/<id>.csv``: centre of mass of each label in voxels (cells2d: plus the number of nuclei per cell);
- nuclei3d and nuclei2d: ``binary/<id>.tif`` and ``contour/<id>.tif``; nuclei3d: ``shapemarker/<id>.tif``;
- cells2d: ``nuclei/<id>.tif``, the nucleus labels;
- ``datalist.json``: a MONAI decathlon datalist of the whole folder (:func:`cellbundles.data.build_datalist`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from cellbundles.data import build_datalist, write_datalist
from cellbundles.io import write_centroids_csv, write_image
from cellbundles.synth.cells import cells2d
from cellbundles.synth.nuclei import nuclei2d, nuclei3d

__all__ = ["main", "write_sample"]

_GENERATORS: dict[str, Callable[..., dict]] = {"nuclei3d": nuclei3d, "nuclei2d": nuclei2d, "cells2d": cells2d}
_SPATIAL_DIMS = {"nuclei3d": 3, "nuclei2d": 2, "cells2d": 2}
_COUNT_ARGUMENT = {"nuclei3d": "n_nuclei", "nuclei2d": "n_nuclei", "cells2d": "n_cells"}


def write_sample(root: str | Path, kind: str, sample_id: str, sample: dict, spacing: Sequence[float] | None) -> None:
    """Write one generated sample into the canonical layout under ``root`` (see the module docstring).

    Args:
        root: dataset folder.
        kind: ``"nuclei3d"``, ``"nuclei2d"`` or ``"cells2d"``, the generator that made ``sample``.
        sample_id: file name stem.
        sample: the generator's output.
        spacing: voxel size stored in the image files, or None (cells2d images never carry one, since the io
            module has no channel axis: the two channels are written as a 2-plane stack).
    """
    root = Path(root)
    if kind == "cells2d":
        write_image(root / "images" / f"{sample_id}.tif", sample["image"])
        write_image(root / "labels" / f"{sample_id}.tif", sample["cell_labels"], spacing)
        write_image(root / "nuclei" / f"{sample_id}.tif", sample["nucleus_labels"], spacing)
        nuclei_per_cell = np.bincount(sample["nucleus_to_cell"][1:], minlength=len(sample["cell_centroids"]) + 1)
        write_centroids_csv(
            root / "centroids" / f"{sample_id}.csv",
            sample["cell_centroids"],
            spacing=spacing,
            extra_columns={"n_nuclei": nuclei_per_cell[1:]},
        )
        return
    write_image(root / "images" / f"{sample_id}.tif", sample["image"], spacing)
    write_image(root / "labels" / f"{sample_id}.tif", sample["labels"], spacing)
    write_centroids_csv(root / "centroids" / f"{sample_id}.csv", sample["centroids"], spacing=spacing)
    for key in ("binary", "contour", "shapemarker"):
        if key in sample:
            write_image(root / key / f"{sample_id}.tif", sample[key], spacing)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cellbundles.synth",
        description="Write seeded phantom datasets (image, instance labels, centroids, ...) in the canonical layout.",
    )
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="{nuclei3d,nuclei2d,cells2d}")
    for kind, spatial_dims in _SPATIAL_DIMS.items():
        axes = "Z Y X" if spatial_dims == 3 else "Y X"
        sub = kinds.add_parser(kind, help=(_GENERATORS[kind].__doc__ or "").strip().splitlines()[0])
        sub.add_argument("--n", type=int, required=True, help="number of samples to write")
        sub.add_argument("--out", type=Path, required=True, help="dataset folder (created if missing)")
        sub.add_argument("--seed", type=int, default=0, help="base seed; sample i uses SeedSequence([seed, i])")
        sub.add_argument("--shape", type=int, nargs=spatial_dims, metavar=tuple(axes.split()), help="image shape")
        sub.add_argument(
            "--spacing",
            type=float,
            nargs=spatial_dims,
            metavar=tuple(axes.lower().split()),
            help="voxel size in um"
            + (" (sizes nuclei in um, default 0.8 0.5 0.5)" if spatial_dims == 3 else " (metadata only, default none)"),
        )
        sub.add_argument("--n-objects", type=int, help=f"number of {'cells' if kind == 'cells2d' else 'nuclei'} per sample")
        if kind == "cells2d":
            sub.add_argument("--clustering", type=float, help="probability that a cell is placed next to another")
            sub.add_argument("--p-two-nuclei", type=float, help="probability that a cell holds two nuclei")
        else:
            sub.add_argument("--touching-fraction", type=float, help="fraction of nuclei placed touching another")
        sub.add_argument("--val-fraction", type=float, default=0.2, help="share of samples in the validation split")
        sub.add_argument("--test-fraction", type=float, default=0.0, help="share of samples in the test split")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Raises:
        SystemExit: with status 2 on invalid arguments (including generator arguments it rejects).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be at least 1, got {args.n}.")
    if not (0.0 <= args.val_fraction < 1.0 and 0.0 <= args.test_fraction < 1.0):
        fractions = (args.val_fraction, args.test_fraction)
        parser.error(f"--val-fraction and --test-fraction must lie in [0, 1), got {fractions}.")
    options = {
        name: getattr(args, name)
        for name in ("shape", "touching_fraction", "clustering", "p_two_nuclei")
        if getattr(args, name, None) is not None
    }
    if args.n_objects is not None:
        options[_COUNT_ARGUMENT[args.kind]] = args.n_objects
    if args.kind == "nuclei3d" and args.spacing is not None:
        options["spacing"] = tuple(args.spacing)
    generator = _GENERATORS[args.kind]
    for index in range(args.n):
        sample_id = f"{args.kind}_s{args.seed}_{index:03d}"
        try:
            sample = generator(seed=np.random.SeedSequence([args.seed, index]), **options)
        except ValueError as error:
            parser.error(str(error))
        spacing = sample.get("spacing") or (tuple(args.spacing) if args.spacing is not None else None)
        write_sample(args.out, args.kind, sample_id, sample, spacing)
        n_objects = len(sample["centroids"] if "centroids" in sample else sample["cell_centroids"])
        print(f"[{index + 1}/{args.n}] {sample_id}: {n_objects} objects -> {args.out}", file=sys.stderr, flush=True)
    try:
        datalist = build_datalist(
            args.out, val_fraction=args.val_fraction, test_fraction=args.test_fraction, seed=args.seed
        )
    except ValueError as error:
        parser.error(str(error))
    write_datalist(args.out / "datalist.json", datalist)
    print(f"wrote {args.out / 'datalist.json'}", file=sys.stderr)
    return 0
