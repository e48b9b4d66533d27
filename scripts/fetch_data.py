"""Download, verify, extract and convert a public dataset described by a manifest in data_manifests/.

Usage::

    python scripts/fetch_data.py --list
    python scripts/fetch_data.py bbbc038 --dest data/bbbc038
    python scripts/fetch_data.py path/to/my_manifest.json --dest data/mine --no-convert

The result is laid out as described in :mod:`cellbundles.data.fetch`: ``<dest>/downloads``,
``<dest>/raw`` and one folder per converted subset (``images/``, ``labels/``, ``centroids/``).
Rerunning the command resumes an interrupted download and skips the steps already done.
"""

from __future__ import annotations

import argparse
import sys

from cellbundles.data.fetch import fetch_dataset
from cellbundles.data.manifest import MANIFESTS_ENV, default_manifest_dir, list_manifests, load_manifest


def _list(manifest_dir: str | None) -> None:
    for name in list_manifests(manifest_dir):
        manifest = load_manifest(name, directory=manifest_dir)
        subsets = ", ".join(step["subset"] for step in manifest["conversion"])
        print(f"{name:18s} {manifest['title']}\n{'':18s} licence: {manifest['licence']['name']}; subsets: {subsets}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", help="manifest name (see --list) or path to a manifest JSON file")
    parser.add_argument("--dest", help="dataset folder to fill")
    parser.add_argument("--no-convert", action="store_true", help="stop after download and extraction")
    parser.add_argument("--list", action="store_true", help="list the available manifests and exit")
    parser.add_argument(
        "--manifest-dir",
        default=None,
        help=f"manifest folder (default: ${MANIFESTS_ENV} or {default_manifest_dir()})",
    )
    parser.add_argument("--quiet", action="store_true", help="no download progress on stderr")
    args = parser.parse_args(argv)
    if args.list:
        _list(args.manifest_dir)
        return 0
    if args.name is None or args.dest is None:
        parser.error("NAME and --dest are required (or use --list)")
    try:
        subsets = fetch_dataset(
            args.name, args.dest, convert=not args.no_convert, manifest_dir=args.manifest_dir, progress=not args.quiet
        )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for subset, folder in subsets.items():
        print(f"{subset}: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
