"""``summary.json`` of an inference or evaluation run (docs/design.md, "Output contract")."""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from monai.utils import min_version, optional_import

from cellbundles.io import atomic_write

Events, _ = optional_import("ignite.engine", "0.4.11", min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", "0.4.11", min_version, "Engine")

__all__ = ["MetricsJSONHandler", "OutputSummaryHandler", "package_versions"]


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on."""
    import monai
    import numpy
    import torch

    import cellbundles

    return {
        "python": platform.python_version(),
        "cellbundles": cellbundles.__version__,
        "monai": monai.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }


class OutputSummaryHandler:
    """Collect the per-input records of :class:`cellbundles.transforms.SaveOutputsd` and write ``summary.json``.

    Attach it to an evaluator whose post-processing stores a record under ``summary_key`` in every
    decollated item. On completion it writes, atomically, ``{"images": [...records, each with its
    "seconds"], "n_images", "total_seconds", "device", "versions", "totals": {field: sum}}``; the totals
    sum the numeric fields (counts), except the per-image measurements named in ``not_summed``.

    Args:
        output_dir: folder of ``summary.json``.
        summary_key: key of the per-item records in ``engine.state.output``.
        filename: name of the summary file.
        not_summed: numeric fields that have no meaningful total (e.g. the nucleus diameter).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        summary_key: str = "summary",
        filename: str = "summary.json",
        not_summed: Sequence[str] = ("seconds", "nucleus_diameter_um"),
    ):
        self.output_dir = Path(output_dir)
        self.summary_key = summary_key
        self.filename = filename
        self.not_summed = set(not_summed)
        self.records: list[dict] = []
        self._run_start = 0.0
        self._iteration_start = 0.0

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.ITERATION_STARTED, self._iteration_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration_completed)
        engine.add_event_handler(Events.COMPLETED, self._completed)

    def _started(self, engine: Engine) -> None:
        self.records = []
        self._run_start = time.perf_counter()

    def _iteration_started(self, engine: Engine) -> None:
        self._iteration_start = time.perf_counter()

    def _iteration_completed(self, engine: Engine) -> None:
        output = engine.state.output
        items = output if isinstance(output, list) else [output]
        records = [item[self.summary_key] for item in items if isinstance(item, dict) and self.summary_key in item]
        seconds = (time.perf_counter() - self._iteration_start) / max(len(records), 1)
        for record in records:
            self.records.append({**record, "seconds": round(seconds, 3)})

    def _completed(self, engine: Engine) -> None:
        totals: dict[str, float] = {}
        for record in self.records:
            for name, value in record.items():
                if isinstance(value, (int, float)) and name not in self.not_summed:
                    totals[name] = totals.get(name, 0) + value
        summary = {
            "n_images": len(self.records),
            "total_seconds": round(time.perf_counter() - self._run_start, 3),
            "device": str(getattr(engine.state, "device", None) or getattr(engine, "device", "")),
            "versions": package_versions(),
            "totals": totals,
            "images": self.records,
        }
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.output_dir / self.filename) as tmp:
            Path(tmp).write_text(json.dumps(summary, indent=2))


class MetricsJSONHandler:
    """Write an evaluator's final metrics (``engine.state.metrics``) to ``metrics.json``, atomically.

    Per-image rows of handlers created with ``save_details=True`` are added under ``"per_image"``
    (one list of rows per metric, in the order of the data loader).

    Args:
        output_dir: folder of the file.
        filename: name of the file.
    """

    def __init__(self, output_dir: str | os.PathLike, filename: str = "metrics.json") -> None:
        self.output_dir = Path(output_dir)
        self.filename = filename

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self._completed)

    def _completed(self, engine: Engine) -> None:
        details = getattr(engine.state, "metric_details", {}) or {}
        report = {
            "metrics": {name: _plain(value) for name, value in engine.state.metrics.items()},
            "per_image": {name: _plain(rows) for name, rows in details.items()},
            "versions": package_versions(),
        }
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.output_dir / self.filename) as tmp:
            Path(tmp).write_text(json.dumps(report, indent=2))


def _plain(value: object) -> object:
    """Numbers, tensors and arrays as strict-JSON values (NaN and infinities become None)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
