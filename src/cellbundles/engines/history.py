"""Per-epoch training history (loss, learning rate, time, validation metrics) as a CSV file.

The benchmark scripts draw training curves and report training minutes from this file; TensorBoard
logs hold the same numbers but need TensorBoard to read.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from monai.utils import min_version, optional_import

from cellbundles.io import atomic_write

Events, _ = optional_import("ignite.engine", "0.4.11", min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", "0.4.11", min_version, "Engine")

__all__ = ["TrainingHistoryHandler", "read_history"]

FIXED_COLUMNS = ("epoch", "train_loss", "lr", "epoch_seconds", "elapsed_seconds")


class TrainingHistoryHandler:
    """Append one row per training epoch to ``<output_dir>/<filename>``.

    Columns: ``epoch``, ``train_loss`` (mean of the iteration losses of the epoch), ``lr`` (the first
    parameter group's learning rate at the end of the epoch), ``epoch_seconds``, ``elapsed_seconds``
    (summed epoch times of this file, so a resumed run continues the count), then the validation
    metrics of ``validator`` when it ran during the epoch (empty cells otherwise).

    Attach it to the trainer after the ``ValidationHandler`` so that a row sees the validation of its
    epoch. A resumed run appends to the existing file, dropping rows from a later epoch than the one
    resumed from.

    Args:
        output_dir: folder of the file.
        optimizer: the optimizer whose learning rate is recorded.
        validator: the evaluator run by the ``ValidationHandler``, or None.
        filename: name of the CSV file.
        loss_key: key of the loss in ``trainer.state.output`` (a dict, or a list of dicts).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        optimizer=None,
        validator: Engine | None = None,
        filename: str = "training_history.csv",
        loss_key: str = "loss",
    ) -> None:
        self.path = Path(output_dir) / filename
        self.optimizer = optimizer
        self.validator = validator
        self.loss_key = loss_key
        self._rows: list[dict] = []
        self._loaded = False
        self._elapsed = 0.0
        self._losses: list[float] = []
        self._validation: dict[str, float] = {}
        self._epoch_start = 0.0

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.EPOCH_STARTED, self._epoch_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)
        if self.validator is not None:
            self.validator.add_event_handler(Events.COMPLETED, self._validation_completed)

    def _started(self, engine: Engine) -> None:
        # the file is read when the first epoch starts: a CheckpointLoader attached after this handler
        # (the bundles attach it in "run") restores engine.state.epoch only during STARTED
        self._loaded = False

    def _load(self, engine: Engine) -> None:
        """Keep the rows of the epochs before the one starting (all of them unless resuming earlier)."""
        self._rows = [row for row in read_history(self.path) if int(row["epoch"]) < engine.state.epoch]
        self._elapsed = float(self._rows[-1]["elapsed_seconds"]) if self._rows else 0.0
        self._loaded = True
        self._write()

    def _epoch_started(self, engine: Engine) -> None:
        if not self._loaded:
            self._load(engine)
        self._losses = []
        self._validation = {}
        self._epoch_start = time.perf_counter()

    def _iteration_completed(self, engine: Engine) -> None:
        output = engine.state.output
        for item in output if isinstance(output, list) else [output]:
            if isinstance(item, dict) and self.loss_key in item:
                self._losses.append(float(item[self.loss_key]))

    def _validation_completed(self, validator: Engine) -> None:
        self._validation = {name: float(value) for name, value in validator.state.metrics.items()}

    def _epoch_completed(self, engine: Engine) -> None:
        seconds = time.perf_counter() - self._epoch_start
        self._elapsed += seconds
        row = {
            "epoch": engine.state.epoch,
            "train_loss": sum(self._losses) / len(self._losses) if self._losses else "",
            "lr": self.optimizer.param_groups[0]["lr"] if self.optimizer is not None else "",
            "epoch_seconds": round(seconds, 3),
            "elapsed_seconds": round(self._elapsed, 3),
            **self._validation,
        }
        self._rows.append(row)
        self._write()

    def _write(self) -> None:
        """Rewrite the whole file (a metric may appear after the first rows, adding a column)."""
        columns = list(FIXED_COLUMNS)
        for row in self._rows:
            columns += [name for name in row if name not in columns]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.path) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(self._rows)


def read_history(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a training-history CSV as dicts of strings (an empty list when the file is missing)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
