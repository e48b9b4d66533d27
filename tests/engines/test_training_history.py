"""TrainingHistoryHandler: one CSV row per epoch with loss, lr, times and the validation metrics."""

from __future__ import annotations

import math

import pytest
import torch
from ignite.engine import Engine, Events

from cellbundles.engines import TrainingHistoryHandler, read_history


def _engines(losses: list[float], val_every: int = 1):
    """A trainer whose iterations return ``losses`` in turn and a validator run every ``val_every`` epochs."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    values = iter(losses)
    trainer = Engine(lambda engine, batch: {"loss": next(values)})
    validator = Engine(lambda engine, batch: None)

    @validator.on(Events.COMPLETED)
    def _metric(engine):
        engine.state.metrics = {"val_iou": 0.1 * trainer.state.epoch}

    @trainer.on(Events.EPOCH_COMPLETED(every=val_every))
    def _validate(engine):
        validator.run([0])

    @trainer.on(Events.EPOCH_COMPLETED)
    def _decay(engine):
        optimizer.param_groups[0]["lr"] *= 0.1

    return trainer, validator, optimizer


def test_rows_hold_mean_loss_lr_times_and_validation(tmp_path):
    trainer, validator, optimizer = _engines([1.0, 3.0, 0.5, 1.5])
    TrainingHistoryHandler(tmp_path, optimizer=optimizer, validator=validator).attach(trainer)
    trainer.run([0, 1], max_epochs=2)

    rows = read_history(tmp_path / "training_history.csv")
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert [float(row["train_loss"]) for row in rows] == [2.0, 1.0]
    assert [float(row["lr"]) for row in rows] == pytest.approx([0.05, 0.005])
    assert [float(row["val_iou"]) for row in rows] == pytest.approx([0.1, 0.2])
    seconds = [float(row["epoch_seconds"]) for row in rows]
    assert all(s >= 0 for s in seconds)
    assert float(rows[1]["elapsed_seconds"]) == pytest.approx(sum(seconds), abs=2e-3)


def test_epochs_without_validation_leave_the_metric_empty(tmp_path):
    trainer, validator, optimizer = _engines([1.0, 1.0, 1.0], val_every=2)
    TrainingHistoryHandler(tmp_path, optimizer=optimizer, validator=validator).attach(trainer)
    trainer.run([0], max_epochs=3)

    rows = read_history(tmp_path / "training_history.csv")
    assert [row["val_iou"] for row in rows][0] == "" and rows[2]["val_iou"] == ""
    assert float(rows[1]["val_iou"]) == pytest.approx(0.2)


def test_a_resumed_run_continues_the_file(tmp_path):
    trainer, validator, optimizer = _engines([1.0] * 3)
    TrainingHistoryHandler(tmp_path, optimizer=optimizer, validator=validator).attach(trainer)
    trainer.run([0], max_epochs=3)
    first = read_history(tmp_path / "training_history.csv")

    # resume from the checkpoint of epoch 2: the row of epoch 3 is dropped and written again
    trainer, validator, optimizer = _engines([4.0, 6.0])
    TrainingHistoryHandler(tmp_path, optimizer=optimizer, validator=validator).attach(trainer)
    trainer.load_state_dict({"epoch": 2, "max_epochs": 4, "epoch_length": 1})
    trainer.run([0])

    rows = read_history(tmp_path / "training_history.csv")
    assert [row["epoch"] for row in rows] == ["1", "2", "3", "4"]
    assert rows[:2] == first[:2]
    assert [float(row["train_loss"]) for row in rows[2:]] == [4.0, 6.0]
    resumed = float(rows[1]["elapsed_seconds"]) + sum(float(row["epoch_seconds"]) for row in rows[2:])
    assert float(rows[3]["elapsed_seconds"]) == pytest.approx(resumed, abs=2e-3)


def test_without_optimizer_or_validator_only_loss_and_time(tmp_path):
    trainer = Engine(lambda engine, batch: [{"loss": 2.0}, {"loss": 4.0}])
    TrainingHistoryHandler(tmp_path, filename="h.csv").attach(trainer)
    trainer.run([0], max_epochs=1)
    (row,) = read_history(tmp_path / "h.csv")
    assert float(row["train_loss"]) == 3.0 and row["lr"] == ""
    assert math.isfinite(float(row["epoch_seconds"]))


def test_read_history_of_a_missing_file_is_empty(tmp_path):
    assert read_history(tmp_path / "none.csv") == []


def test_a_checkpoint_restored_after_the_handler_keeps_the_earlier_rows(tmp_path):
    # the bundles attach the CheckpointLoader after the handlers: it restores the epoch during STARTED
    trainer, validator, optimizer = _engines([1.0] * 2)
    TrainingHistoryHandler(tmp_path, optimizer=optimizer, validator=validator).attach(trainer)
    trainer.run([0], max_epochs=2)
    trainer, validator, optimizer = _engines([4.0])
    TrainingHistoryHandler(tmp_path, optimizer=optimizer, validator=validator).attach(trainer)
    restore = {"epoch": 2, "max_epochs": 3, "epoch_length": 1}
    trainer.add_event_handler(Events.STARTED, lambda engine: engine.load_state_dict(restore))
    trainer.run([0], max_epochs=3)
    rows = read_history(tmp_path / "training_history.csv")
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]
    assert [float(row["train_loss"]) for row in rows] == [1.0, 1.0, 4.0]
