"""Custom code of the ``nuclei_recyclegan_3d`` bundle.

All of it lives in the installed ``cellbundles`` package (MONAI Label imports this module with the
bundle folder on ``sys.path``, so shared code must not live here). The configs name the classes by
their full ``cellbundles`` paths; this module re-exports the main ones for interactive use::

    from scripts import ResNetGenerator
"""

from __future__ import annotations

from cellbundles.engines import RecycleGANTrainer
from cellbundles.networks import PatchGANDiscriminator, ResNetGenerator, SlicePredictor, SliceWise
from cellbundles.synth import gan_phantom3d

__all__ = [
    "PatchGANDiscriminator",
    "RecycleGANTrainer",
    "ResNetGenerator",
    "SlicePredictor",
    "SliceWise",
    "gan_phantom3d",
]
