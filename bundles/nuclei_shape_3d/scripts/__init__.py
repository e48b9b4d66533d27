"""Custom code of the ``nuclei_shape_3d`` bundle.

All of it lives in the installed ``cellbundles`` package (MONAI Label imports this module with the
bundle folder on ``sys.path``, so shared code must not live here). The configs name the classes by
their full ``cellbundles`` paths; this module re-exports the main ones for interactive use::

    from scripts import SegShapeNet
"""

from __future__ import annotations

from cellbundles.losses import SegShapeLoss
from cellbundles.networks import SegShapeNet
from cellbundles.postprocess import nucleus_shapes

__all__ = ["SegShapeLoss", "SegShapeNet", "nucleus_shapes"]
