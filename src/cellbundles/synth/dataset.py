"""Phantom datasets on disk in the canonical layout (docs/design.md, "Data layout").

Sample ``i`` is named ``<kind>_s<seed>_<i:03d>`` and generated from ``numpy.random.SeedSequence([seed, i])``, so a
sample is the same however many are generated. Files written under the dataset folder:

- ``images/<id>.tif``: the image (cells2d: a ``(2, H, W)`` stack, nucleus then cytoplasm stain), with the spacing
  in the ImageJ metadata when there is one (3D kinds always; 2D kinds when a spacing is given);
- ``labels/<id>.tif``: instance labels (cells2d: the cells), uint16;
- ``centroids/<id>.csv``: centre of mass of each label in voxels (cells2d: plus the number of nuclei per cell);
- nuclei3d, nuclei3d_random, nuclei3d_gan and nuclei2d: ``binary/<id>.tif`` and ``contour/<id>.tif``; the 3D kinds:
  ``shapemarker/<id>.tif``; nuclei3d_gan's image is the PSF-blurred I_binary of seed 001;
- nuclei3d_random and nuclei3d_gan: ``params/<id>.json``, the parameters drawn for the sample (each image also carries its own
  spacing);
- cells2d: ``nuclei/<id>.tif``, the nucleus labels;
- ``datalist.json``: a MONAI decathlon datalist of the whole folder (:func:`cellbundles.data.build_datalist`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cellbundles.data import build_datalist, write_datalist
from cellbundles.io import atomic_write, write_centroids_csv, write_image
from cellbundles.synth.cells import cells2d
from cellbundles.synth.nuclei import nuclei2d, nuclei3d
from cellbundles.synth.randomised import randomised_nuclei3d
from cellbundles.synth.recyclegan import gan_phantom3d

__all__ = ["GENERATORS", "SPATIAL_DIMS", "write_dataset", "write_sample"]

GENERATORS: dict[str, Callable[..., dict]] = {
    "nuclei3d": nuclei3d,
    "nuclei3d_random": randomised_nuclei3d,
    "nuclei3d_gan": gan_phantom3d,
    "nuclei2d": nuclei2d,
    "cells2d": cells2d,
}
SPATIAL_DIMS = {"nuclei3d": 3, "nuclei3d_random": 3, "nuclei3d_gan": 3, "nuclei2d": 2, "cells2d": 2}


def write_sample(root: str | Path, kind: str, sample_id: str, sample: dict, spacing: Sequence[float] | None) -> None:
    """Write one generated sample into the canonical layout under ``root`` (see the module docstring).

    Args:
        root: dataset folder.
        kind: a key of :data:`GENERATORS`, the generator that made ``sample``.
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
    if "params" in sample:
        with atomic_write(root / "params" / f"{sample_id}.json") as temporary:
            temporary.write_text(json.dumps(sample["params"], indent=2) + "\n", encoding="utf-8")


def write_dataset(
    out: str | Path,
    kind: str,
    n: int,
    *,
    seed: int = 0,
    spacing: Sequence[float] | None = None,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    overwrite: bool = True,
    **options: Any,
) -> Path:
    """Generate ``n`` samples with the ``kind`` generator into ``out`` and write its ``datalist.json``.

    Args:
        out: dataset folder (created if missing).
        kind: a key of :data:`GENERATORS`.
        n: number of samples.
        seed: base seed; sample ``i`` uses ``SeedSequence([seed, i])``.
        spacing: voxel size in um; nuclei3d and nuclei3d_gan size their nuclei with it, nuclei3d_random fixes it instead of drawing
            it, the 2D kinds only store it.
        val_fraction: share of samples in the validation split.
        test_fraction: share of samples in the test split.
        overwrite: when False and ``out/datalist.json`` exists, keep the dataset as it is; when False and ``out``
            holds images of another dataset, raise instead of adding phantoms to it.
        options: further arguments of the generator (``shape``, ``n_nuclei``, ...).

    Returns:
        the path of ``datalist.json``.

    Raises:
        ValueError: for an unknown kind, ``n < 1``, arguments the generator rejects, or (``overwrite`` False) a
            folder that holds images this call would not write.
    """
    if kind not in GENERATORS:
        raise ValueError(f"unknown phantom kind {kind!r}; choose one of {sorted(GENERATORS)}.")
    if n < 1:
        raise ValueError(f"the number of samples must be at least 1, got {n}.")
    out = Path(out)
    datalist_path = out / "datalist.json"
    prefix = f"{kind}_s{seed}_"
    if not overwrite:
        if datalist_path.exists():
            return datalist_path
        foreign = sorted(path.name for path in (out / "images").glob("*") if not path.name.startswith(prefix))
        if foreign:
            raise ValueError(
                f"{out} holds images that are not {kind} phantoms of seed {seed} ({foreign[0]}, {len(foreign)} in all) "
                "and no datalist.json: phantoms are not added to another dataset. Choose an empty folder for phantoms, "
                "or use the folder's own data (a bundle's --data_source datalist)."
            )
    if SPATIAL_DIMS[kind] == 3 and spacing is not None:
        options["spacing"] = tuple(spacing)
    for index in range(n):
        sample_id = f"{prefix}{index:03d}"
        sample = GENERATORS[kind](seed=np.random.SeedSequence([seed, index]), **options)
        sample_spacing = sample.get("spacing") or (tuple(spacing) if spacing is not None else None)
        write_sample(out, kind, sample_id, sample, sample_spacing)
        n_objects = len(sample["centroids"] if "centroids" in sample else sample["cell_centroids"])
        print(f"[{index + 1}/{n}] {sample_id}: {n_objects} objects -> {out}", file=sys.stderr, flush=True)
    datalist = build_datalist(out, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    write_datalist(datalist_path, datalist)
    print(f"wrote {datalist_path}", file=sys.stderr, flush=True)
    return datalist_path
