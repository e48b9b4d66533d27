"""Run a bundle exactly as a user would: ``python -m monai.bundle run`` in a child process.

The demo and benchmark scripts use this, so that what they time and what they show is the command
line a user types, with the bundle's own ``logging.conf``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["bundle_run_command", "run_bundle", "run_bundle_measured"]


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


def _peak_rss_kib(pid: int) -> int:
    """High-water mark of a running process's resident memory (``VmHWM``), KiB; 0 when it cannot be read."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


def run_bundle_measured(
    bundle_dir: str | os.PathLike,
    configs: Sequence[str],
    overrides: Mapping[str, object] | None = None,
    log_file: str | os.PathLike | None = None,
    echo: bool = False,
    poll_seconds: float = 0.2,
) -> tuple[float, float | None]:
    """Run a bundle workflow in a child process; return its wall-clock seconds and peak resident memory (MiB).

    The memory is the child's own high-water mark (Linux ``/proc/<pid>/status`` ``VmHWM``, read every
    ``poll_seconds`` until it exits, so a peak reached in the last interval before the exit can be missed;
    ``None`` where there is no ``/proc``). The ``ru_maxrss`` that ``wait4`` reports is not used: Linux counts in
    it the pages the child shared with this process when it was forked.

    Args:
        bundle_dir, configs, overrides: as :func:`bundle_run_command`.
        log_file: file receiving the child's stdout and stderr (default: inherited from this process).
        echo: print the command line first.
        poll_seconds: interval between two readings of the high-water mark.

    Raises:
        subprocess.CalledProcessError: when the run fails (the log file holds its traceback).
    """
    command = bundle_run_command(bundle_dir, configs, overrides)
    if echo:
        print("$", " ".join(command), flush=True)
    peak_kib = 0
    with contextlib.ExitStack() as stack:
        log = None
        if log_file is not None:
            Path(log_file).parent.mkdir(parents=True, exist_ok=True)
            log = stack.enter_context(open(log_file, "w"))
        start = time.perf_counter()
        with subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT if log else None) as process:
            while True:
                peak_kib = max(peak_kib, _peak_rss_kib(process.pid))
                try:
                    process.wait(timeout=poll_seconds)
                    break
                except subprocess.TimeoutExpired:
                    continue
        seconds = time.perf_counter() - start
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)
    return seconds, (peak_kib / 1024 if peak_kib else None)


def run_bundle(
    bundle_dir: str | os.PathLike,
    configs: Sequence[str],
    overrides: Mapping[str, object] | None = None,
    log_file: str | os.PathLike | None = None,
    echo: bool = False,
) -> float:
    """:func:`run_bundle_measured` without the memory: the wall-clock seconds of the run."""
    return run_bundle_measured(bundle_dir, configs, overrides, log_file, echo)[0]
