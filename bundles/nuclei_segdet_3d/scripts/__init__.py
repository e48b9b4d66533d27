"""Custom code of the ``nuclei_segdet_3d`` bundle.

All of it lives in the installed ``cellbundles`` package (MONAI Label imports this module with the
bundle folder on ``sys.path``, so shared code must not live here). The configs name the classes by
their full ``cellbundles`` paths; this module re-exports the main ones for interactive use::

    from scripts import SegDetNet
"""

from __future__ import annotations

from cellbundles.losses import SegDetLoss
from cellbundles.networks import SegDetNet, split_segdet_output

__all__ = ["SegDetLoss", "SegDetNet", "split_segdet_output"]
