"""``python -m cellbundles.synth {nuclei3d,nuclei2d,cells2d} --n N --out DIR --seed S``.

See :mod:`cellbundles.synth.cli`.
"""

from __future__ import annotations

from cellbundles.synth.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
