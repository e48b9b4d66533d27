"""Run a bundle exactly as a user would: ``python -m monai.bundle run`` in a child process.

The demo and benchmark scripts use this, so that what they time and what they show is the command
line a user types, with the bundle's own ``logging.conf``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["bundle_run_command", "run_bundle"]


def bundle_run_command(
    bundle_dir: str | os.PathLike, configs: Sequence[str], overrides: Mapping[str, object] | None = None
) -> list[str]:
    """The ``python -m monai.bundle run`` command line of a bundle.

    Args:
        bundle_dir: the bundle folder (its ``configs/`` holds the config files).
        configs: config file names in ``configs/``, merged in order (e.g. ``["train.json", "evaluate.json"]``).
        overrides: ``--key value`` overrides; strings are passed as they are, other values as Python
            literals (``repr``), which the command line parser (Fire) turns back into numbers, lists
            and ``True`` / ``False`` (JSON's ``true`` would arrive as a string). ``monai.bundle run``
            drops ``None`` overrides, so a config cannot be set to None from the command line.
    """
    bundle_dir = Path(bundle_dir)
    files = [str(bundle_dir / "configs" / name) for name in configs]
    command = [sys.executable, "-m", "monai.bundle", "run"]
    command += ["--config_file", files[0] if len(files) == 1 else json.dumps(files)]
    command += ["--bundle_root", str(bundle_dir), "--logging_file", str(bundle_dir / "configs" / "logging.conf")]
    for key, value in (overrides or {}).items():
        command += [f"--{key}", value if isinstance(value, str) else repr(value)]
    return command


def run_bundle(
    bundle_dir: str | os.PathLike,
    configs: Sequence[str],
    overrides: Mapping[str, object] | None = None,
    log_file: str | os.PathLike | None = None,
    echo: bool = False,
) -> float:
    """Run a bundle workflow in a child process; return its wall-clock seconds.

    Args:
        bundle_dir, configs, overrides: as :func:`bundle_run_command`.
        log_file: file receiving the child's stdout and stderr (default: inherited from this process).
        echo: print the command line first.

    Raises:
        subprocess.CalledProcessError: when the run fails (the log file holds its traceback).
    """
    command = bundle_run_command(bundle_dir, configs, overrides)
    if echo:
        print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    if log_file is None:
        subprocess.run(command, check=True)
    else:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "w") as log:
            subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    return time.perf_counter() - start
