"""Fixtures shared by the metric tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch


class LabelPassThrough(torch.nn.Module):
    """Stands in for a network followed by instance post-processing: returns the input labels."""

    def forward(self, x):
        return x.round().long()


@pytest.fixture
def run_label_evaluator():
    """Run a MONAI ``SupervisedEvaluator`` whose "network" outputs the predicted label images as given.

    Call it as ``run(trues, preds, key_val_metric, additional_metrics=None, batch_size=2, val_handlers=None)``
    with the handlers built on ``from_engine(["pred", "label"])``; it returns the finished evaluator.
    """
    from monai.data import DataLoader, Dataset
    from monai.engines import SupervisedEvaluator

    def run(trues, preds, key_val_metric, additional_metrics=None, batch_size=2, val_handlers=None):
        data = [
            {"image": torch.as_tensor(np.asarray(p)[None], dtype=torch.float32), "label": torch.as_tensor(t[None])}
            for t, p in zip(trues, preds)
        ]
        evaluator = SupervisedEvaluator(
            device=torch.device("cpu"),
            val_data_loader=DataLoader(Dataset(data), batch_size=batch_size),
            network=LabelPassThrough(),
            key_val_metric=key_val_metric,
            additional_metrics=additional_metrics,
            val_handlers=val_handlers,
        )
        evaluator.run()
        return evaluator

    return run
