#!/usr/bin/env python
"""Copy the config files that several bundles share from ``bundle_templates/configs`` into each bundle.

A bundle in the model zoo must be self-contained, so these files exist once per bundle; this script is the
only writer of those copies, and ``--check`` (run by the tests) fails when a copy differs from its template.

Usage::

    python scripts/sync_bundle_configs.py           # write the copies
    python scripts/sync_bundle_configs.py --check   # exit 1 and name every copy that differs
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = REPO_ROOT / "bundle_templates" / "configs"
TWO_D = ("nuclei_resunet_2d", "nuclei_semantic_2d")
SHARED = {
    "logging.conf": ("nuclei_segdet_3d", *TWO_D, "nuclei_maskrcnn_2d", "nuclei_recyclegan_3d", "cells_fpf_2d"),
    "evaluate.json": TWO_D,
    "multi_gpu_train.json": (*TWO_D, "nuclei_maskrcnn_2d"),
    "datalist.json": (*TWO_D, "nuclei_maskrcnn_2d"),
}
"""Template file (relative to ``bundle_templates/configs``) -> bundles holding a copy of it, under the template's
file name, in their ``configs/``. The 2D DSB2018 bundles draw their training crops with ``crop_sampling_weights``;
``cells_fpf_2d`` has its own ``multi_gpu_train.json`` (rank 0 writes its phantoms)."""


def copies() -> list[tuple[Path, Path]]:
    """(template, copy) pairs."""
    return [(TEMPLATES / name, REPO_ROOT / "bundles" / bundle / "configs" / Path(name).name) for name, bundles in SHARED.items()
            for bundle in bundles]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a copy differs")
    args = parser.parse_args(argv)
    stale = [copy for template, copy in copies() if not copy.exists() or not filecmp.cmp(template, copy, shallow=False)]
    if args.check:
        for copy in stale:
            print(f"{copy.relative_to(REPO_ROOT)} differs from its template in bundle_templates/configs; "
                  "run python scripts/sync_bundle_configs.py", file=sys.stderr)  # fmt: skip
        return 1 if stale else 0
    for template, copy in copies():
        if copy in stale:
            shutil.copyfile(template, copy)
            print(f"wrote {copy.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
