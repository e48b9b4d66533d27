"""Custom code of the ``cells_fpf_2d`` bundle.

All of it lives in the installed ``cellbundles`` package (MONAI Label imports this module with the
bundle folder on ``sys.path``, so shared code must not live here). The configs name the classes by
their full ``cellbundles`` paths; this module re-exports the main ones for interactive use::

    from scripts import FPFMaskRCNN
"""

from __future__ import annotations

from cellbundles.networks import FPFMaskRCNN, PyramidFusion
from cellbundles.transforms import CellRulesd, PlanesToChannelsd

__all__ = ["CellRulesd", "FPFMaskRCNN", "PlanesToChannelsd", "PyramidFusion"]
