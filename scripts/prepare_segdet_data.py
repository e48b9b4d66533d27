#!/usr/bin/env python
"""Build the training folder of ``nuclei_segdet_3d``: domain-randomised phantoms next to real annotated volumes.

Usage::

    python scripts/prepare_segdet_data.py --out /data/segdet_train \\
        --bbbc050 /path/to/bbbc050_mouse_embryo_3d --n_phantoms 48

Writes ``<out>/phantoms`` (``nuclei3d_random`` phantoms, :mod:`cellbundles.synth.randomised`), links the real
folders under ``<out>/real/`` and writes ``<out>/datalist.json``:

- BBBC050 mouse embryos split by embryo, never by time point: ``--test_embryos`` (default Emb10, Emb11) form
  the test section, ``--val_embryos`` (default Emb09) join the validation section, the others train;
- the vendored GoNuclear ovule crop (``data/samples``), the only volume of its kind here, split in two along
  x: the low-x half trains, the high-x half is a test volume (written under ``<out>/real/gonuclear_halves``);
- the vendored QCANet 8-cell embryo is a test volume (written with the 1.75 x 0.8 x 0.8 um voxel size of
  its collection, which its file lacks): BBBC050 holds 40 training volumes of the same kind;
- the phantoms: 90 % training, 10 % validation;
- every real training volume is listed ``--real_repeats`` times (default 3) in the training section, so that
  the real volumes are drawn about as often as the phantoms (36 real volumes x 3 against 86 phantoms with
  the defaults below and ``--n_phantoms 96``); ``--real_repeats 0`` leaves them out of training (validation
  and test sections unchanged);
- ``--blurred_per_setting K`` adds K training phantoms for each of 8 settings, axial / lateral PSF ratio
  2.5, 3, 3.5 or 4 and packing 0.05 or 0.2 (``<out>/phantoms_blur``, seeds 5000-5007), where the
  randomised draw makes few volumes with both strong axial blur and isolated nuclei.

Then train with ``--data_source datalist --dataset_dir <out> --datalist <out>/datalist.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cellbundles.data import build_datalist, write_datalist
from cellbundles.io import read_image, write_image
from cellbundles.synth.dataset import write_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("training", "validation", "test")


def _section_items(folder: Path, prefix: str) -> list[dict]:
    """Every sample of a canonical folder, as datalist items with paths under ``prefix``."""
    return _prefixed(build_datalist(folder, val_fraction=0.0)["training"], prefix)


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(target.resolve(), link, target_is_directory=True)


BLURRED_PSF_AXIAL_RATIOS = (2.5, 3.0, 3.5, 4.0)
BLURRED_PACKINGS = (0.05, 0.2)
BLURRED_SEED = 5000
"""Settings and first seed of the ``--blurred_per_setting`` phantoms (one seed per setting)."""

QCANET_SPACING_UM = (1.75, 0.8, 0.8)
"""Voxel size of the QCANet / BBBC050 embryo collection, z, y, x (the vendored 8-cell file has none)."""


def _copy_volume(image: Path, label: Path, out: Path, name: str, spacing=None, x_slice=slice(None)) -> dict:
    """Write ``image`` and ``label`` (cropped to ``x_slice``, with ``spacing`` when given) under ``out``."""
    item = {"id": name, "image": f"images/{name}.tif", "label": f"labels/{name}.tif"}
    for key, source in (("image", image), ("label", label)):
        array, file_spacing = read_image(source)
        write_image(out / item[key], array[..., x_slice], spacing or file_spacing)
    return item


def _prefixed(items: list[dict], prefix: str) -> list[dict]:
    return [{**item, **{key: f"{prefix}/{item[key]}" for key in ("image", "label", "centroids") if key in item}} for item in items]


def write_blurred_phantoms(out: Path, per_setting: int) -> list[dict]:
    """``per_setting`` phantoms for each PSF ratio x packing of the module's constants; their datalist items."""
    items = []
    settings = [(ratio, packing) for ratio in BLURRED_PSF_AXIAL_RATIOS for packing in BLURRED_PACKINGS]
    for index, (ratio, packing) in enumerate(settings):
        name = f"r{ratio}_p{packing}"
        write_dataset(out / name, "nuclei3d_random", per_setting, seed=BLURRED_SEED + index, val_fraction=0.0,
                      overwrite=False, psf_axial_ratio=ratio, packing=packing)  # fmt: skip
        items += _section_items(out / name, f"{out.name}/{name}")
    return items


def embryo_of(item: dict) -> str:
    """Embryo id of a BBBC050 item (``images/Emb01_t001.tif`` -> ``Emb01``)."""
    return Path(item["image"]).stem.split("_")[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--bbbc050", type=Path, help="BBBC050 folder in the canonical layout (optional)")
    parser.add_argument("--samples", type=Path, default=REPO_ROOT / "data" / "samples")
    parser.add_argument("--n_phantoms", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test_embryos", nargs="*", default=["Emb10", "Emb11"])
    parser.add_argument("--val_embryos", nargs="*", default=["Emb09"])
    parser.add_argument("--real_repeats", type=int, default=3,
                        help="times each real training volume is listed (0: phantoms only)")  # fmt: skip
    parser.add_argument("--blurred_per_setting", type=int, default=0,
                        help="extra phantoms per strong-axial-blur setting (8 settings)")  # fmt: skip
    args = parser.parse_args(argv)
    for name in ("real_repeats", "blurred_per_setting"):
        if getattr(args, name) < 0:
            parser.error(f"--{name} must be at least 0, got {getattr(args, name)}")
    try:
        write_dataset(
            args.out / "phantoms", "nuclei3d_random", args.n_phantoms, seed=args.seed, val_fraction=0.1,
            overwrite=False,
        )  # fmt: skip
        datalist = {"name": args.out.name, "spacing_unit": "um", **{section: [] for section in SECTIONS}}
        phantoms = build_datalist(args.out / "phantoms", val_fraction=0.1, seed=args.seed)
        for section in ("training", "validation"):
            datalist[section] += _prefixed(phantoms[section], "phantoms")
        if args.blurred_per_setting:
            datalist["training"] += write_blurred_phantoms(args.out / "phantoms_blur", args.blurred_per_setting)
        gonuclear, halves = args.samples / "gonuclear_ovule_3d", args.out / "real" / "gonuclear_halves"
        width = read_image(gonuclear / "images" / "1135.tif")[0].shape[-1]
        train_half = _copy_volume(gonuclear / "images" / "1135.tif", gonuclear / "labels" / "1135.tif", halves,
                                  "1135_low_x", x_slice=slice(0, width // 2))  # fmt: skip
        test_half = _copy_volume(gonuclear / "images" / "1135.tif", gonuclear / "labels" / "1135.tif", halves,
                                 "1135_high_x", x_slice=slice(width // 2, None))  # fmt: skip
        datalist["training"] += _prefixed([train_half], "real/gonuclear_halves")
        datalist["test"] += _prefixed([test_half], "real/gonuclear_halves")
        qcanet = args.samples / "qcanet_mouse_embryo_3d"
        eight_cell = _copy_volume(qcanet / "images" / "8_cell_stage.tif", qcanet / "labels" / "8_cell_stage.tif",
                                  args.out / "real" / "qcanet", "8_cell_stage", spacing=QCANET_SPACING_UM)  # fmt: skip
        datalist["test"] += _prefixed([eight_cell], "real/qcanet")
        if args.bbbc050 is not None:
            _link(args.bbbc050, args.out / "real" / "bbbc050")
            for item in _section_items(args.out / "real" / "bbbc050", "real/bbbc050"):
                embryo = embryo_of(item)
                section = "test" if embryo in args.test_embryos else "validation" if embryo in args.val_embryos else "training"
                datalist[section].append(item)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    phantoms = [item for item in datalist["training"] if not item["image"].startswith("real/")]
    real = [item for item in datalist["training"] if item["image"].startswith("real/")]
    datalist["training"] = phantoms + real * args.real_repeats
    blurred = (
        f" + {8 * args.blurred_per_setting} training phantoms with axial / lateral PSF 2.5-4 and packing 0.05 / 0.2"
        if args.blurred_per_setting else ""
    )  # fmt: skip
    datalist["description"] = (
        f"{args.n_phantoms} nuclei3d_random phantoms (seed {args.seed}, 10 % validation){blurred} + GoNuclear 1135 low-x half "
        f"(training; high-x half and QCANet 8_cell_stage: test) + BBBC050 split by embryo (test {args.test_embryos}, validation {args.val_embryos}); "
        + (f"real training volumes listed {args.real_repeats} times" if args.real_repeats else "real volumes left out of training")
    )
    write_datalist(args.out / "datalist.json", datalist)
    print(f"wrote {args.out / 'datalist.json'}: " + ", ".join(f"{s} {len(datalist[s])}" for s in SECTIONS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
