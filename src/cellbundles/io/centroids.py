"""Centroid tables (one object per row) as CSV files, coordinates in voxels in (z, y, x) order.

Format: a header row, then one row per object. Coordinate columns are ``z``, ``y``, ``x`` (``y``,
``x`` in 2D), in voxel units of the image they belong to; an ``id`` or ``label`` column may give the
object number; ``z_um``, ``y_um``, ``x_um`` may repeat the coordinates in micrometres; any other
column (e.g. ``uncertainty_radius_um``, ``shape_class``) is carried along for the reader of the file.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping

import numpy as np

from cellbundles.io.atomic import atomic_write

__all__ = ["read_centroids_csv", "write_centroids_csv"]

_AXES = ("z", "y", "x")


def read_centroids_csv(path: str | os.PathLike) -> np.ndarray:
    """Read centroid coordinates from a CSV file with a ``z,y,x`` (3D) or ``y,x`` (2D) header.

    Column names are matched case-insensitively; ``id`` / ``label`` and any other columns are ignored.

    Args:
        path: the CSV file.

    Returns:
        (N, 3) float64 array of (z, y, x) voxel coordinates, or (N, 2) of (y, x) when the file has no
        ``z`` column, in file order (N may be 0).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: ``"<path>: ..."`` for a missing header or ``y`` / ``x`` column, or a value that is
            not a finite number.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file.")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if header is None:
            raise ValueError(f"{path}: the centroid file is empty; expected a header row with z,y,x or y,x.")
        columns = {name.strip().lower(): index for index, name in enumerate(header)}
        axes = _AXES if "z" in columns else _AXES[1:]
        missing = [axis for axis in axes if axis not in columns]
        if missing:
            raise ValueError(
                f"{path}: the header {header} lacks the column(s) {missing}; expected z,y,x (3D) or y,x (2D)."
            )
        coordinates = []
        for line_number, row in enumerate(rows, start=2):
            if not any(cell.strip() for cell in row):
                continue
            try:
                point = [float(row[columns[axis]]) for axis in axes]
            except (IndexError, ValueError):
                raise ValueError(
                    f"{path}: line {line_number}: expected numbers in the columns {list(axes)}, got {row}."
                ) from None
            if not all(math.isfinite(value) for value in point):
                raise ValueError(f"{path}: line {line_number}: coordinates must be finite, got {point}.")
            coordinates.append(point)
    return np.asarray(coordinates, dtype=np.float64).reshape(-1, len(axes))


def _cell(value: object) -> str:
    """Text of one CSV cell; Python's ``str`` of a float is its shortest exact representation."""
    return str(value.item() if isinstance(value, np.generic) else value)


def write_centroids_csv(
    path: str | os.PathLike,
    centroids_zyx: np.ndarray,
    *,
    spacing: tuple[float, ...] | None = None,
    extra_columns: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Write centroids as CSV, atomically: header ``id,z,y,x`` (``id,y,x`` in 2D), ids from 1.

    Args:
        path: target CSV file; missing folders are created.
        centroids_zyx: (N, 3) (z, y, x) or (N, 2) (y, x) voxel coordinates.
        spacing: micrometres per axis in the same order; when given, the columns ``z_um,y_um,x_um``
            (``y_um,x_um``) hold the coordinates in micrometres.
        extra_columns: more columns, name -> (N,) values (numbers or strings), written after the others
            in the given order.

    Raises:
        ValueError: for a coordinate array that is not (N, 2) or (N, 3), a spacing of the wrong length,
            an extra column of the wrong length or with a name that is already used.
    """
    points = np.asarray(centroids_zyx, dtype=np.float64)
    if points.ndim == 1 and points.size == 0:
        points = points.reshape(0, 3)
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise ValueError(
            f"{path}: centroids must be an (N, 3) (z, y, x) or (N, 2) (y, x) array, got shape {points.shape}."
        )
    axes = list(_AXES[3 - points.shape[1] :])
    header = ["id", *axes]
    columns = [np.arange(1, len(points) + 1), *points.T]
    if spacing is not None:
        if len(spacing) != points.shape[1]:
            raise ValueError(
                f"{path}: spacing {tuple(spacing)} does not match the {points.shape[1]} coordinate columns."
            )
        header += [f"{axis}_um" for axis in axes]
        columns += [points[:, index] * float(size) for index, size in enumerate(spacing)]
    for name, values in (extra_columns or {}).items():
        values = np.asarray(values)
        if name in header:
            raise ValueError(f"{path}: the extra column {name!r} clashes with a standard column of {header}.")
        if values.shape != (len(points),):
            raise ValueError(f"{path}: the extra column {name!r} has shape {values.shape}, expected ({len(points)},).")
        header.append(name)
        columns.append(values)
    with atomic_write(path) as temporary:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for row in zip(*columns):
                writer.writerow([_cell(value) for value in row])
