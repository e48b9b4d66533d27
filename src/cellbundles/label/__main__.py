"""Start a MONAI Label server on 127.0.0.1 with this repository's bundles, offline.

``python -m cellbundles.label [--studies DIR] [--port 8000] [--models all] [--bundles_dir DIR]``

Without ``--bundles_dir`` the server works on a copy of the repository's bundles (``outputs/label/bundles``,
made once and kept), since training from MONAI Label replaces a bundle's ``models/model.pt``.

Without ``--studies`` the server labels a folder of the vendored samples (``outputs/label/studies``): four
DSB2018 images held out of the 2D bundles' training, the GoNuclear ovule crop and the QCANet 8-cell embryo
(written with its voxel size, 1.75 x 0.8 x 0.8 um, which its file does not state).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from cellbundles.data.samples import DSB_HELD_OUT_IMAGES, QCANET_SPACING, SAMPLES_DIR
from cellbundles.io import read_image, write_image

REPO = Path(__file__).resolve().parents[3]
SERVER_APP = Path(__file__).resolve().parent / "server_app"


def prepare_studies(folder: Path) -> Path:
    """Fill ``folder`` with the vendored sample images (kept when already there); return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem in DSB_HELD_OUT_IMAGES:
        source = SAMPLES_DIR / "dsb2018_stage1_train" / "images" / f"{stem}.png"
        if not (folder / source.name).exists():
            shutil.copy(source, folder / source.name)
    ovule = SAMPLES_DIR / "gonuclear_ovule_3d" / "images" / "1135.tif"
    if not (folder / "ovule_1135.tif").exists():
        shutil.copy(ovule, folder / "ovule_1135.tif")
    if not (folder / "embryo_8_cell_stage.tif").exists():
        embryo, _ = read_image(SAMPLES_DIR / "qcanet_mouse_embryo_3d" / "images" / "8_cell_stage.tif")
        write_image(folder / "embryo_8_cell_stage.tif", embryo, QCANET_SPACING)
    return folder


def prepare_bundles(folder: Path) -> Path:
    """Copy the repository's bundles into ``folder`` (those already there are kept); return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for bundle in sorted((REPO / "bundles").iterdir()):
        if (bundle / "configs").is_dir() and not (folder / bundle.name).exists():
            shutil.copytree(bundle, folder / bundle.name, ignore=shutil.ignore_patterns("eval", "monailabel", "__pycache__"))
    return folder


def server_command(studies: Path, port: int, models: str, bundles_dir: Path) -> list[str]:
    """The ``monailabel start_server`` command line of the cellbundles app on 127.0.0.1."""
    command = [sys.executable, "-m", "monailabel.main", "start_server", "--app", str(SERVER_APP)]
    command += ["--studies", str(studies), "--host", "127.0.0.1", "--port", str(port)]
    return command + ["--conf", "models", models, "--conf", "bundles_dir", str(bundles_dir)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cellbundles.label", description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=Path, default=None, help="folder of images to label (default: the samples)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--models", default="all", help="comma-separated bundle names, or all")
    parser.add_argument("--bundles_dir", type=Path, default=None, help="folder of bundles (default: a copy)")
    args = parser.parse_args(argv)
    studies = args.studies or prepare_studies(REPO / "outputs" / "label" / "studies")
    bundles_dir = args.bundles_dir or prepare_bundles(REPO / "outputs" / "label" / "bundles")
    for folder in (studies, bundles_dir):
        if not folder.is_dir():
            parser.error(f"{folder}: no such folder")
    command = server_command(studies, args.port, args.models, bundles_dir)
    print(" ".join(command), flush=True)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
