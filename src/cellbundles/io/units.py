"""Physical length units found in microscopy file metadata, converted to micrometres."""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["micrometres_per_unit", "as_spacing"]

_MICROMETRES_PER_UNIT = {
    "um": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "micrometre": 1.0,
    "micrometers": 1.0,
    "micrometres": 1.0,
    "nm": 1e-3,
    "nanometer": 1e-3,
    "nanometre": 1e-3,
    "nanometers": 1e-3,
    "nanometres": 1e-3,
    "å": 1e-4,
    "angstrom": 1e-4,
    "mm": 1e3,
    "millimeter": 1e3,
    "millimetre": 1e3,
    "cm": 1e4,
    "centimeter": 1e4,
    "centimetre": 1e4,
    "m": 1e6,
    "meter": 1e6,
    "metre": 1e6,
    "inch": 25400.0,
    "in": 25400.0,
}

# spellings of the micro sign: U+00B5 (micro sign), U+03BC (Greek mu), and ImageJ's escaped form.
_MICRO_SPELLINGS = ("\\u00b5", "\\u03bc", "\u00b5", "\u03bc")


def micrometres_per_unit(unit: str | None) -> float | None:
    """Return how many micrometres one ``unit`` is, or None for a missing or non-length unit.

    Accepts the spellings of ImageJ (``micron``, ``um``, ``\\u00B5m``, ``nm``, ``mm``, ``cm``, ``inch``),
    OME-XML (``µm``, ``nm``, ``Å``, ``mm``, ``cm``, ``m``) and NIfTI (``micron``, ``mm``, ``meter``),
    case-insensitively. ``pixel``, ``unknown`` and empty strings give None.

    Args:
        unit: the unit name as stored in the file.
    """
    if unit is None:
        return None
    name = str(unit).strip().lower()
    for spelling in _MICRO_SPELLINGS:
        name = name.replace(spelling, "u")
    return _MICROMETRES_PER_UNIT.get(name)


def as_spacing(values: Iterable[float] | None) -> tuple[float, ...] | None:
    """Return ``values`` as a tuple of floats when they form a usable spacing, else None.

    Args:
        values: spacing per spatial axis, or None.

    Returns:
        None when ``values`` is None or holds a value that is not finite and strictly positive
        (metadata that cannot describe a voxel size is treated as missing).
    """
    if values is None:
        return None
    spacing = tuple(float(value) for value in values)
    if not spacing or not all(math.isfinite(value) and value > 0 for value in spacing):
        return None
    return spacing
