"""The canonical dataset layout of cellbundles (docs/design.md, "Data layout").

::

    <root>/
      images/<id>.tif        image (any suffix of cellbundles.io.SUPPORTED_SUFFIXES), spacing in its metadata
      labels/<id>.tif        optional: instance labels, 0 = background
      centroids/<id>.csv     optional: object centres, columns z,y,x (or y,x) in voxels

A sample is identified by the image file name without its format suffix (``1135.ome.tif`` -> ``1135``).
Hidden files (names starting with ``.``, e.g. temporary files of an interrupted atomic write) are ignored.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

from cellbundles.io import SUPPORTED_SUFFIXES, image_stem, is_supported_image

__all__ = ["IMAGES_DIR", "LABELS_DIR", "CENTROIDS_DIR", "NUCLEI_DIR", "DOWNLOADS_DIR", "RAW_DIR", "find_samples", "list_inputs"]

IMAGES_DIR = "images"
LABELS_DIR = "labels"
CENTROIDS_DIR = "centroids"
NUCLEI_DIR = "nuclei"
DOWNLOADS_DIR = "downloads"
"""Folder of a fetched dataset holding the downloaded files as they came."""
RAW_DIR = "raw"
"""Folder of a fetched dataset holding the extracted downloads, before conversion to the layout above."""


def _is_centroid_table(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def _files_by_id(folder: Path, accept: Callable[[Path], bool], stem: Callable[[Path], str]) -> dict[str, Path]:
    """Map sample id -> file for the accepted files of ``folder`` (empty when the folder does not exist)."""
    if not folder.is_dir():
        return {}
    files: dict[str, Path] = {}
    skipped = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if not accept(path):
            skipped.append(path.name)
            continue
        sample_id = stem(path)
        if sample_id in files:
            raise ValueError(
                f"{folder}: two files for the sample {sample_id!r}: {files[sample_id].name} and {path.name}."
            )
        files[sample_id] = path
    if skipped:
        warnings.warn(f"{folder}: ignored {len(skipped)} file(s) of an unsupported type: {skipped[:5]}", stacklevel=3)
    return files


def _unmatched(folder: Path, ids: set[str]) -> ValueError:
    examples = ", ".join(sorted(ids)[:5])
    return ValueError(f"{folder}: {len(ids)} file(s) have no image in {IMAGES_DIR}/ with the same id: {examples}.")


def find_samples(root: str | os.PathLike) -> list[dict[str, str]]:
    """List the samples of a dataset folder in the canonical layout.

    Args:
        root: dataset folder holding ``images/`` and optionally ``labels/``, ``centroids/`` and ``nuclei/`` (the
            nucleus labels of a two-channel cell dataset, e.g. seed 004's).

    Returns:
        one dict per image, sorted by id: ``{"id", "image", "label"?, "centroids"?, "nuclei"?}``, paths as
        strings under ``root``; ``label`` / ``centroids`` / ``nuclei`` only when the file exists.

    Raises:
        FileNotFoundError: when ``root`` does not exist.
        ValueError: when ``root`` is not a folder, has no ``images/`` folder or no image in it, when two
            files in one folder share an id, or when a label or centroid file has no matching image.
    """
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: the dataset folder does not exist.")
    if not root.is_dir():
        raise ValueError(
            f"{root}: not a folder; expected a dataset folder with {IMAGES_DIR}/<id>.tif and {LABELS_DIR}/<id>.tif."
        )
    images = _files_by_id(root / IMAGES_DIR, is_supported_image, image_stem)
    if not images:
        raise ValueError(
            f"{root}: no images found in {root / IMAGES_DIR}; expected {IMAGES_DIR}/<id> files with a suffix in "
            f"{', '.join(SUPPORTED_SUFFIXES)} (optional {LABELS_DIR}/<id>.* and {CENTROIDS_DIR}/<id>.csv)."
        )
    labels = _files_by_id(root / LABELS_DIR, is_supported_image, image_stem)
    centroids = _files_by_id(root / CENTROIDS_DIR, _is_centroid_table, lambda path: path.stem)
    nuclei = _files_by_id(root / NUCLEI_DIR, is_supported_image, image_stem)
    for folder, files in ((root / LABELS_DIR, labels), (root / CENTROIDS_DIR, centroids), (root / NUCLEI_DIR, nuclei)):
        orphans = set(files) - set(images)
        if orphans:
            raise _unmatched(folder, orphans)
    samples = []
    for sample_id in sorted(images):
        sample = {"id": sample_id, "image": str(images[sample_id])}
        if sample_id in labels:
            sample["label"] = str(labels[sample_id])
        if sample_id in centroids:
            sample["centroids"] = str(centroids[sample_id])
        if sample_id in nuclei:
            sample["nuclei"] = str(nuclei[sample_id])
        samples.append(sample)
    return samples


def list_inputs(path: str | os.PathLike) -> list[dict[str, str]]:
    """The inputs of an inference run: every supported image of a folder, or of a canonical dataset.

    Args:
        path: a folder of images (``--dataset_dir`` of the bundles), a dataset folder in the canonical
            layout (its ``images/``, with ``label`` / ``centroids`` when present), or one image file.

    Returns:
        one dict per image, sorted by file name: ``{"image": path}`` plus the canonical layout's keys.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when it is an unsupported file, or a folder without any supported image.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder.")
    if path.is_file():
        if not is_supported_image(path):
            raise ValueError(f"{path}: not a supported image; use one of {', '.join(SUPPORTED_SUFFIXES)}.")
        return [{"image": str(path)}]
    if (path / IMAGES_DIR).is_dir():
        return [{key: value for key, value in sample.items() if key != "id"} for sample in find_samples(path)]
    images = _files_by_id(path, is_supported_image, image_stem)
    if not images:
        raise ValueError(f"{path}: no image with a suffix in {', '.join(SUPPORTED_SUFFIXES)} in this folder.")
    return [{"image": str(images[key])} for key in sorted(images)]
