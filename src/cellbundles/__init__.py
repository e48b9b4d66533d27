"""cellbundles: MONAI bundles and components for nuclei and cell analysis in fluorescence microscopy.

Submodules are imported lazily so that ``import cellbundles`` stays cheap (no torch, no MONAI):
``cellbundles.io``, ``cellbundles.data``, ``cellbundles.synth``, ``cellbundles.metrics``, ...
"""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

_SUBMODULES = (
    "data",
    "engines",
    "errors",
    "io",
    "losses",
    "metrics",
    "networks",
    "postprocess",
    "synth",
    "transforms",
    "utils",
    "visualize",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
