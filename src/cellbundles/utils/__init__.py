"""Small helpers every layer of ``cellbundles`` may use; numpy only (no torch, MONAI or file formats)."""

from __future__ import annotations

from .flags import as_flag
from .spacing import spacing_array, spacing_from_affine, to_numpy

__all__ = ["as_flag", "spacing_array", "spacing_from_affine", "to_numpy"]
