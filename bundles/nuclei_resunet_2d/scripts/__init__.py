"""Custom code of the ``nuclei_resunet_2d`` bundle.

All of it lives in the installed ``cellbundles`` package (MONAI Label imports this module with the
bundle folder on ``sys.path``, so shared code must not live here). The configs name the classes by
their full ``cellbundles`` paths; this module re-exports the main ones for interactive use::

    from scripts import ResUNet
"""

from __future__ import annotations

from cellbundles.networks import ResUNet
from cellbundles.transforms import InstancesFromBinaryd, InstancesToBinaryd, ToSingleChanneld, dsb_augmentations

__all__ = ["InstancesFromBinaryd", "InstancesToBinaryd", "ResUNet", "ToSingleChanneld", "dsb_augmentations"]
