"""Atomic file writing: a file appears complete under its final name or not at all."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_write", "full_suffix"]

_MULTI_PART_SUFFIXES = (".ome.tiff", ".ome.tif", ".nii.gz", ".tar.gz")


def full_suffix(path: str | os.PathLike) -> str:
    """Return the suffix that selects the file format, including known two-part suffixes.

    Args:
        path: a file name or path.

    Returns:
        e.g. ``".ome.tif"`` for ``a.ome.tif``, ``".nii.gz"`` for ``a.nii.gz``, ``".tif"`` for ``a.b.tif``,
        ``""`` when the name has no suffix. The case of the name is kept.
    """
    name = Path(path).name
    lowered = name.lower()
    for suffix in _MULTI_PART_SUFFIXES:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[-len(suffix) :]
    return Path(name).suffix


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Context manager that lets a writer produce ``path`` atomically.

    It yields a temporary path in the same folder as ``path`` (a hidden name that keeps the full
    suffix, e.g. ``.ome.tif`` or ``.nii.gz``, so that libraries choosing the format from the suffix
    behave as for ``path``). The body writes the file there; on success the temporary file is moved
    onto ``path`` with :func:`os.replace` (atomic on POSIX and Windows within one file system), so
    readers never see a half-written file and an existing ``path`` is replaced only by a complete one.
    If the body raises, the temporary file is removed and ``path`` is left untouched.
    Missing parent folders are created.

    Example::

        with atomic_write("out/labels.tif") as tmp:
            tifffile.imwrite(tmp, labels)

    Args:
        path: the final file path.

    Raises:
        FileNotFoundError: when the body finished without creating the temporary file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp{full_suffix(target)}")
    try:
        yield temporary
        if not temporary.exists():
            raise FileNotFoundError(f"{target}: the writer did not create the temporary file {temporary.name}")
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
