"""Helpers of the bundle tests: run ``python`` / ``python -m monai.bundle`` as users do, in a child process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


def run_python(*args: str, cwd: Path, timeout: float = 300, check: bool = True) -> tuple[int, str]:
    """Run ``python <args>`` in ``cwd``; return the exit code and the merged stdout/stderr.

    Each process uses one thread: the runs are tiny and test machines are shared. With ``check``, a
    non-zero exit fails the test with the error lines and the end of the output.
    """
    done = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    if check and done.returncode != 0:
        errors = "\n".join(line for line in done.stdout.splitlines() if re.match(r"[\w.]+(Error|Exception): ", line))
        pytest.fail(f"python {' '.join(args)} failed ({done.returncode}):\n{errors}\n...\n{done.stdout[-3000:]}")
    return done.returncode, done.stdout


def run_monai_bundle(*args: str, cwd: Path, **options) -> tuple[int, str]:
    """``python -m monai.bundle <args>``, as users run a bundle (options of :func:`run_python`)."""
    return run_python("-m", "monai.bundle", *args, cwd=cwd, **options)
