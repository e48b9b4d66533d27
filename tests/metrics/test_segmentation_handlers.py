from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cellbundles.metrics import dice, hausdorff

SPACING = (2.0, 0.5, 0.5)


def _random_labels(rng, shape=(8, 20, 20), n_objects=3):
    """A 3D label image of random boxes with arbitrary ids."""
    labels = np.zeros(shape, dtype=np.int64)
    for _ in range(n_objects):
        size = rng.integers(2, 7, size=3)
        start = [rng.integers(0, n - s) for n, s in zip(shape, size)]
        labels[tuple(slice(b, b + s) for b, s in zip(start, size))] = rng.integers(1, 100)
    return labels


def _image_pairs(rng, n_images=4):
    """Random ground truth and prediction pairs; the last prediction is empty."""
    trues = [_random_labels(rng) for _ in range(n_images)]
    preds = [_random_labels(rng) for _ in range(n_images - 1)] + [np.zeros_like(trues[0])]
    return trues, preds


def _as_tensor(images):
    return torch.as_tensor(np.stack(images)[:, None])


def test_hausdorff_metric_uses_the_spacing_per_axis():
    from cellbundles.metrics import HausdorffMetric

    cube = np.zeros((1, 1, 8, 12, 12), dtype=np.int64)
    cube[0, 0, 2:5, 3:7, 3:7] = 1
    for axis, expected in ((2, 2.0), (4, 0.5)):
        metric = HausdorffMetric(spacing=SPACING)
        metric(y_pred=torch.as_tensor(np.roll(cube, 1, axis=axis) * 7), y=torch.as_tensor(cube))
        assert float(metric.aggregate()) == pytest.approx(expected)


def test_segmentation_metrics_agree_with_plain_functions_and_count_infinite_images():
    from cellbundles.metrics import DiceScoreMetric, HausdorffMetric

    trues, preds = _image_pairs(np.random.default_rng(0))
    hd = HausdorffMetric(spacing=SPACING, metric_name=("hausdorff", "n_infinite"))
    hd95 = HausdorffMetric(spacing=SPACING, percentile=95)
    dice_metric = DiceScoreMetric()
    for metric in (hd, hd95, dice_metric):
        metric(y_pred=_as_tensor(preds[:2]), y=_as_tensor(trues[:2]))
        metric(y_pred=_as_tensor(preds[2:]), y=_as_tensor(trues[2:]))

    expected = [hausdorff(t, p, spacing=SPACING) for t, p in zip(trues, preds)]
    assert math.isinf(expected[-1].hd) and all(math.isfinite(r.hd) for r in expected[:-1])
    mean_hd, n_infinite = (float(v) for v in hd.aggregate())
    assert mean_hd == pytest.approx(np.mean([r.hd for r in expected[:-1]]))
    assert n_infinite == 1.0
    assert float(hd95.aggregate()) == pytest.approx(np.mean([r.hd95 for r in expected[:-1]]))
    assert float(dice_metric.aggregate()) == pytest.approx(np.mean([dice(t, p) for t, p in zip(trues, preds)]))
    assert hd.get_buffer()[-1].tolist() == [0.0, 1.0]


def test_empty_predictions_give_nan_hausdorff_and_zero_dice():
    from cellbundles.metrics import DiceScoreMetric, HausdorffMetric

    trues = [_random_labels(np.random.default_rng(seed)) for seed in (1, 2)]
    y_pred, y = torch.zeros(2, 1, *trues[0].shape, dtype=torch.int64), _as_tensor(trues)
    hd, dice_metric = HausdorffMetric(metric_name=("hausdorff", "n_infinite")), DiceScoreMetric()
    hd(y_pred=y_pred, y=y)
    dice_metric(y_pred=y_pred, y=y)
    mean_hd, n_infinite = (float(v) for v in hd.aggregate())
    assert math.isnan(mean_hd) and n_infinite == 2.0
    assert float(dice_metric.aggregate()) == 0.0

    both_empty = HausdorffMetric(metric_name=("hausdorff", "n_infinite"))
    both_empty(y_pred=y_pred, y=torch.zeros_like(y_pred))
    assert [float(v) for v in both_empty.aggregate()] == [0.0, 0.0]


def test_hausdorff_arguments_are_checked():
    from cellbundles.metrics import Hausdorff, HausdorffMetric

    with pytest.raises(ValueError, match="percentile"):
        HausdorffMetric(percentile=50)
    with pytest.raises(ValueError, match="unknown metric_name"):
        Hausdorff(metric_name="hd95")
    metric = HausdorffMetric(spacing=(1.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        metric(y_pred=torch.ones(1, 1, 4, 4, 4), y=torch.ones(1, 1, 4, 4, 4))


def test_handlers_in_a_supervised_evaluator():
    from monai.data import DataLoader, Dataset
    from monai.engines import SupervisedEvaluator
    from monai.handlers import from_engine

    from cellbundles.metrics import DiceScore, Hausdorff

    trues, preds = _image_pairs(np.random.default_rng(3))
    data = [
        {"image": torch.as_tensor(p[None], dtype=torch.float32), "label": torch.as_tensor(t[None])}
        for t, p in zip(trues, preds)
    ]

    class LabelPassThrough(torch.nn.Module):
        """Stands in for a network followed by instance post-processing: returns the input labels."""

        def forward(self, x):
            return x.round().long()

    transform = from_engine(["pred", "label"])
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"),
        val_data_loader=DataLoader(Dataset(data), batch_size=2),
        network=LabelPassThrough(),
        key_val_metric={"val_dice": DiceScore(output_transform=transform)},
        additional_metrics={
            "val_hd": Hausdorff(spacing=SPACING, output_transform=transform),
            "val_hd95": Hausdorff(spacing=SPACING, percentile=95, output_transform=transform),
            "val_hd_infinite": Hausdorff(spacing=SPACING, metric_name="n_infinite", output_transform=transform),
        },
    )
    evaluator.run()

    expected = [hausdorff(t, p, spacing=SPACING) for t, p in zip(trues, preds)]
    metrics = evaluator.state.metrics
    assert metrics["val_dice"] == pytest.approx(np.mean([dice(t, p) for t, p in zip(trues, preds)]))
    assert metrics["val_hd"] == pytest.approx(np.mean([r.hd for r in expected if math.isfinite(r.hd)]))
    assert metrics["val_hd95"] == pytest.approx(np.mean([r.hd95 for r in expected if math.isfinite(r.hd95)]))
    assert metrics["val_hd_infinite"] == 1.0
    assert evaluator.state.metric_details["val_hd"].shape == (4, 2)
