"""Command line that writes phantom datasets in the canonical layout (docs/design.md, "Data layout").

::

    python -m cellbundles.synth nuclei3d --n 10 --out data/phantoms3d --seed 0 --shape 64 128 128 --spacing 0.8 0.5 0.5
    python -m cellbundles.synth nuclei2d --n 20 --out data/phantoms2d
    python -m cellbundles.synth cells2d --n 20 --out data/cells2d --p-two-nuclei 0.1
    python -m cellbundles.synth nuclei3d_random --n 100 --out data/random3d --fix photons=25 --fix "radius_um=[3, 5.5]"

The samples and files written are described in :mod:`cellbundles.synth.dataset`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from cellbundles.synth.dataset import GENERATORS, SPATIAL_DIMS, write_dataset

__all__ = ["main"]

_COUNT_ARGUMENT = {"nuclei3d": "n_nuclei", "nuclei2d": "n_nuclei", "cells2d": "n_cells"}


def _fixed_parameter(text: str) -> tuple[str, object]:
    """Parse ``NAME=VALUE`` with a JSON value (a bare word such as ``uint8`` stays a string)."""
    name, separator, value = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}.")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cellbundles.synth",
        description="Write seeded phantom datasets (image, instance labels, centroids, ...) in the canonical layout.",
    )
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="{" + ",".join(SPATIAL_DIMS) + "}")
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
            + {
                "nuclei3d": " (sizes nuclei in um, default 0.8 0.5 0.5)",
                "nuclei3d_random": " (fixed instead of drawn per sample)",
                "nuclei3d_gan": " (sizes nuclei in um, default 1 0.5 0.5)",
            }.get(kind, " (metadata only, default none)"),
        )
        if kind in _COUNT_ARGUMENT:
            objects = "cells" if kind == "cells2d" else "nuclei"
            sub.add_argument("--n-objects", type=int, help=f"number of {objects} per sample")
        if kind == "nuclei3d_random":
            sub.add_argument(
                "--fix",
                action="append",
                default=[],
                type=_fixed_parameter,
                metavar="NAME=VALUE",
                help="fix a drawn parameter (JSON value, e.g. photons=25 or 'radius_um=[3, 5.5]'); repeatable",
            )
        if kind == "cells2d":
            sub.add_argument("--clustering", type=float, help="probability that a cell is placed next to another")
            sub.add_argument("--p-two-nuclei", type=float, help="probability that a cell holds two nuclei")
            sub.add_argument("--p-no-nucleus", type=float, help="probability that a cell holds no nucleus")
            sub.add_argument(
                "--nucleus-offset", type=float, help="how far nuclei move off the cell centre towards its border (0-1)"
            )
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
        for name in ("shape", "touching_fraction", "clustering", "p_two_nuclei", "p_no_nucleus", "nucleus_offset")
        if getattr(args, name, None) is not None
    }
    if getattr(args, "n_objects", None) is not None:
        options[_COUNT_ARGUMENT[args.kind]] = args.n_objects
    options.update(getattr(args, "fix", []))
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
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    return 0
