"""Command line that writes phantom datasets in the canonical layout (DESIGN.md section 5).

::

    python -m cellbundles.synth nuclei3d --n 10 --out data/phantoms3d --seed 0 --shape 64 128 128 --spacing 0.8 0.5 0.5
    python -m cellbundles.synth nuclei2d --n 20 --out data/phantoms2d
    python -m cellbundles.synth cells2d --n 20 --out data/cells2d --p-two-nuclei 0.1

The samples and files written are described in :mod:`cellbundles.synth.dataset`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from cellbundles.synth.dataset import GENERATORS, SPATIAL_DIMS, write_dataset

__all__ = ["main"]

_COUNT_ARGUMENT = {"nuclei3d": "n_nuclei", "nuclei2d": "n_nuclei", "cells2d": "n_cells"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cellbundles.synth",
        description="Write seeded phantom datasets (image, instance labels, centroids, ...) in the canonical layout.",
    )
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="{nuclei3d,nuclei2d,cells2d}")
    for kind, spatial_dims in SPATIAL_DIMS.items():
        axes = "Z Y X" if spatial_dims == 3 else "Y X"
        sub = kinds.add_parser(kind, help=(GENERATORS[kind].__doc__ or "").strip().splitlines()[0])
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
    try:
        write_dataset(
            args.out,
            args.kind,
            args.n,
            seed=args.seed,
            spacing=args.spacing,
            val_fraction=args.val_fraction,
            test_fraction=args.test_fraction,
            **options,
        )
    except ValueError as error:
        parser.error(str(error))
    return 0
