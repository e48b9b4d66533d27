"""MONAI decathlon-style datalists built from the canonical dataset layout.

A datalist is a JSON object::

    {"name": "<dataset>", "spacing_unit": "um",
     "training": [{"image": "images/a.tif", "label": "labels/a.tif", "centroids": "centroids/a.csv",
                   "spacing": [z, y, x]}, ...],
     "validation": [...], "test": [...]}

Paths are relative to the dataset folder, and the datalist is meant to be saved there
(``<root>/datalist.json``), where ``monai.data.load_decathlon_datalist`` finds them with its default
``base_dir``. ``label`` and ``centroids`` appear only for samples that have them (use
``allow_missing_keys=True`` in the transforms); ``spacing`` is the voxel size in micrometres from the
image header, in (z, y, x) / (y, x) order, or null when the file states none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cellbundles.data.layout import IMAGES_DIR, find_samples
from cellbundles.io import atomic_write, read_spacing

__all__ = ["DATALIST_SECTIONS", "PATH_KEYS", "build_datalist", "write_datalist", "load_datalist"]

DATALIST_SECTIONS = ("training", "validation", "test")
PATH_KEYS = ("image", "label", "centroids", "nuclei")


def _section_sizes(n_samples: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """Number of validation and test samples: rounded fractions, at least one each for a non-zero
    fraction as long as one training sample remains."""
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {fraction}.")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}.")
    n_val, n_test = round(val_fraction * n_samples), round(test_fraction * n_samples)
    if test_fraction > 0 and n_test == 0 and n_samples - n_val >= 2:
        n_test = 1
    if val_fraction > 0 and n_val == 0 and n_samples - n_test >= 2:
        n_val = 1
    if n_samples - n_val - n_test < 1:
        raise ValueError(
            f"{n_samples} sample(s) cannot be split into {n_val} validation and {n_test} test samples "
            "and keep a training sample; lower val_fraction / test_fraction."
        )
    return n_val, n_test


def _split(indices: np.ndarray, n_val: int, n_test: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Shuffle ``indices`` and cut them into ``n_test`` test, ``n_val`` validation and training indices."""
    order = indices[rng.permutation(len(indices))]
    return {"test": order[:n_test], "validation": order[n_test : n_test + n_val], "training": order[n_test + n_val :]}


def _stratified_split(
    groups: list[str], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """:func:`_split` within each group with rounded shares (no minimum), groups in sorted order."""
    _section_sizes(len(groups), val_fraction, test_fraction)
    rng = np.random.default_rng(seed)
    groups_array = np.asarray(groups, dtype=object)
    parts = []
    for group in sorted(set(groups)):
        members = np.flatnonzero(groups_array == group)
        n_val, n_test = round(val_fraction * len(members)), round(test_fraction * len(members))
        parts.append(_split(members, n_val, n_test, rng))
    return {section: np.concatenate([part[section] for part in parts]) for section in DATALIST_SECTIONS}


def _datalist_item(sample: dict[str, str], root: Path) -> dict[str, Any]:
    item: dict[str, Any] = {key: Path(sample[key]).relative_to(root).as_posix() for key in PATH_KEYS if key in sample}
    spacing = read_spacing(sample["image"])
    if spacing is None and "label" in sample:
        spacing = read_spacing(sample["label"])
    item["spacing"] = list(spacing) if spacing is not None else None
    return item


def build_datalist(
    root: str | os.PathLike,
    *,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 0,
    strata: Mapping[str, str] | None = None,
    test_ids: Collection[str] | None = None,
) -> dict[str, Any]:
    """Build a decathlon-style datalist of a dataset folder in the canonical layout, with a random split.

    The split depends only on the sample ids and ``seed``: the ids are sorted, shuffled with
    ``numpy.random.default_rng(seed)``, the first ones go to ``test``, the next to ``validation``, the
    rest to ``training``; each section is then sorted by id. A non-zero fraction gets at least one sample
    as long as one training sample remains. With ``strata`` (sample id -> group name, e.g. image type and
    size), the split is drawn within each group with rounded fractions, so every section keeps the
    groups' proportions (groups too small for a rounded share stay in ``training``). With ``test_ids`` (a
    published test split) those samples form ``test`` and ``validation`` is drawn from the others.
    Spacing is read from the file headers only (no pixel data).

    Args:
        root: dataset folder (see :func:`cellbundles.data.layout.find_samples`).
        val_fraction: share of the samples in ``validation``, in [0, 1).
        test_fraction: share of the samples in ``test``, in [0, 1).
        seed: seed of the shuffle.
        strata: optional group of every sample id, for a stratified split; ids missing from it form
            one group of their own.
        test_ids: optional ids of the ``test`` section; excludes ``test_fraction`` and ``strata``.

    Returns:
        ``{"name", "spacing_unit": "um", "training", "validation", "test"}`` (see the module docstring).

    Raises:
        FileNotFoundError / ValueError: from :func:`~cellbundles.data.layout.find_samples` and the
            header readers; ValueError for fractions outside [0, 1), summing to 1 or more, or leaving
            no training sample; unknown ``test_ids``.
    """
    root = Path(root)
    samples = find_samples(root)
    if test_ids is not None:
        if test_fraction or strata is not None:
            raise ValueError("test_ids gives the test section: leave test_fraction at 0 and strata at None.")
        unknown = sorted(set(test_ids) - {sample["id"] for sample in samples})
        if unknown:
            raise ValueError(f"{root}: test_ids not found in {IMAGES_DIR}/: {', '.join(unknown[:5])}.")
        is_test = np.asarray([sample["id"] in set(test_ids) for sample in samples], dtype=bool)
        rest = np.flatnonzero(~is_test)
        n_val, _ = _section_sizes(len(rest), val_fraction, 0.0)
        sections = _split(rest, n_val, 0, np.random.default_rng(seed))
        sections["test"] = np.flatnonzero(is_test)
    elif strata is None:
        n_val, n_test = _section_sizes(len(samples), val_fraction, test_fraction)
        sections = _split(np.arange(len(samples)), n_val, n_test, np.random.default_rng(seed))
    else:
        sections = _stratified_split([strata.get(s["id"], "") for s in samples], val_fraction, test_fraction, seed)
    datalist: dict[str, Any] = {"name": root.absolute().name, "spacing_unit": "um"}
    for section in DATALIST_SECTIONS:
        datalist[section] = [_datalist_item(samples[index], root) for index in sorted(sections[section])]
    return datalist


def write_datalist(path: str | os.PathLike, datalist: dict[str, Any]) -> None:
    """Write a datalist as indented JSON, atomically (missing folders are created)."""
    text = json.dumps(datalist, indent=2) + "\n"
    with atomic_write(path) as temporary:
        Path(temporary).write_text(text, encoding="utf-8")


def load_datalist(
    path: str | os.PathLike, section: str = "training", *, base_dir: str | os.PathLike | None = None
) -> list[dict[str, Any]]:
    """Load one section of a datalist with absolute paths.

    Equivalent to ``monai.data.load_decathlon_datalist(path, data_list_key=section, base_dir=base_dir)``
    for the keys ``image``, ``label``, ``centroids`` and ``nuclei``, without importing MONAI.

    Args:
        path: datalist JSON file.
        section: ``"training"``, ``"validation"``, ``"test"`` or any other list in the file.
        base_dir: folder the relative paths start from; default the folder of ``path``.

    Returns:
        the items of the section (copies), with absolute ``image`` / ``label`` / ``centroids`` / ``nuclei`` paths.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: for invalid JSON, a missing section, or items that are not objects with an image.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such datalist file.")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a valid JSON datalist: {error}") from error
    if not isinstance(content, dict) or not isinstance(content.get(section), list):
        sections = (
            [key for key, value in content.items() if isinstance(value, list)] if isinstance(content, dict) else []
        )
        raise ValueError(f"{path}: no datalist section {section!r}; the file has {sections}.")
    base = Path(base_dir if base_dir is not None else path.parent).absolute()
    items = []
    for index, entry in enumerate(content[section]):
        item = {"image": entry} if isinstance(entry, str) else entry
        if not isinstance(item, dict) or "image" not in item:
            raise ValueError(
                f"{path}: item {index} of {section!r} must be an object with an 'image' path, got {entry!r}."
            )
        item = dict(item)
        for key in PATH_KEYS:
            if isinstance(item.get(key), str):
                item[key] = os.path.normpath(base / item[key])
        items.append(item)
    return items
