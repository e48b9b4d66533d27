"""Seeded, deterministic phantoms with ground truth (DESIGN.md section 3): 3D ellipsoid nuclei (BBBC024-like,
seed 001), 2D nuclei (DSB2018-like) and 2-channel cell + nucleus scenes (seed 004).

Command line: ``python -m cellbundles.synth {nuclei3d,nuclei2d,cells2d} --n N --out DIR --seed S``.
"""

from __future__ import annotations

from cellbundles.synth.cells import cells2d
from cellbundles.synth.nuclei import nuclei2d, nuclei3d

__all__ = ["nuclei3d", "nuclei2d", "cells2d"]
