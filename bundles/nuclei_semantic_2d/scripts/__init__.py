"""Custom code of the ``nuclei_semantic_2d`` bundle.

All of it lives in the installed ``cellbundles`` package (MONAI Label imports this module with the
bundle folder on ``sys.path``, so shared code must not live here). The configs name the classes by
their full ``cellbundles`` paths; this module re-exports the main ones for interactive use::

    from scripts import semantic_network
    network = semantic_network("unet")
"""

from __future__ import annotations

from cellbundles.networks import SEMANTIC_NETWORKS, ResNetFCN, SimpleCNN, semantic_network, semantic_unet
from cellbundles.transforms import InstancesFromThreeClassd, InstancesToThreeClassd, ToSingleChanneld, dsb_augmentations

__all__ = [
    "SEMANTIC_NETWORKS",
    "InstancesFromThreeClassd",
    "InstancesToThreeClassd",
    "ResNetFCN",
    "SimpleCNN",
    "ToSingleChanneld",
    "dsb_augmentations",
    "semantic_network",
    "semantic_unet",
]
