"""Custom code of the ``nuclei_maskrcnn_2d`` bundle.

All of it lives in the installed ``cellbundles`` package (MONAI Label imports this module with the
bundle folder on ``sys.path``, so shared code must not live here). The configs name the classes by
their full ``cellbundles`` paths; this module re-exports the main ones for interactive use::

    from scripts import ReducedMaskRCNN
"""

from __future__ import annotations

from cellbundles.engines import DetectionInferer, PrepareDetectionBatch
from cellbundles.losses import MaskRCNNLossSum
from cellbundles.networks import ReducedMaskRCNN
from cellbundles.transforms import DetectionsToInstancesd, InstancesToDetectionTargetsd

__all__ = [
    "DetectionInferer",
    "DetectionsToInstancesd",
    "InstancesToDetectionTargetsd",
    "MaskRCNNLossSum",
    "PrepareDetectionBatch",
    "ReducedMaskRCNN",
]
