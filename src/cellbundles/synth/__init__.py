"""Seeded, deterministic phantoms with ground truth (docs/design.md, "Package layers"): 3D ellipsoid nuclei
(BBBC024-like, seed 001), domain-randomised 3D nuclei (every size, density, sampling, optics and signal parameter
drawn per volume), binary phantom triples for the Recycle-GAN (seed 001), 2D nuclei (DSB2018-like) and 2-channel
cell + nucleus scenes (seed 004).

Command line:
``python -m cellbundles.synth {nuclei3d,nuclei3d_random,nuclei3d_gan,nuclei2d,cells2d} --n N --out DIR --seed S``.
"""

from __future__ import annotations

from cellbundles.synth.cells import cells2d
from cellbundles.synth.nuclei import nuclei2d, nuclei3d
from cellbundles.synth.randomised import randomised_nuclei3d
from cellbundles.synth.recyclegan import gan_phantom3d, label_ellipticity, paired_targets

__all__ = [
    "nuclei3d",
    "randomised_nuclei3d",
    "gan_phantom3d",
    "label_ellipticity",
    "paired_targets",
    "nuclei2d",
    "cells2d",
]
