from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
import torch

from cellbundles.metrics import (
    dsb_score,
    match_centroids,
    match_instances_dataset,
    object_overlap_prf,
    rand_error,
)
from cellbundles.metrics.ctc import ctc_det, ctc_seg


def _label_batch(rng, n_images=3, shape=(24, 24)):
    """Ground-truth and predicted label images: squares, and the same squares shifted or missing."""
    trues, preds = [], []
    for _ in range(n_images):
        y_true = np.zeros(shape, dtype=np.int64)
        y_pred = np.zeros(shape, dtype=np.int64)
        for k, (y, x) in enumerate([(1, 1), (1, 13), (13, 1), (13, 13)]):
            y_true[y : y + 8, x : x + 8] = 10 + k
            dy, dx = rng.integers(-3, 4, size=2)
            if rng.random() < 0.8:
                y_pred[max(y + dy, 0) : y + dy + 8, max(x + dx, 0) : x + dx + 8] = 50 + k
        trues.append(y_true)
        preds.append(y_pred)
    return trues, preds


def _as_tensor(images):
    return torch.as_tensor(np.stack(images)[:, None])


def test_cellbundles_metrics_import_does_not_load_torch():
    code = "import sys, cellbundles.metrics as m; m.match_instances; assert 'torch' not in sys.modules, 'torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_instance_matching_metric_micro_averages_batches():
    from cellbundles.metrics import InstanceMatchingMetric

    trues, preds = _label_batch(np.random.default_rng(0), n_images=4)
    metric = InstanceMatchingMetric(thresh=0.5, metric_name=("f1", "precision", "panoptic_quality", "tp"))
    metric(y_pred=_as_tensor(preds[:2]), y=_as_tensor(trues[:2]))
    metric(y_pred=[torch.as_tensor(p[None]) for p in preds[2:]], y=[torch.as_tensor(t[None]) for t in trues[2:]])
    f1, precision, pq, tp = metric.aggregate()
    expected = match_instances_dataset(trues, preds, thresh=0.5)
    assert float(f1) == pytest.approx(expected.f1)
    assert float(precision) == pytest.approx(expected.precision)
    assert float(pq) == pytest.approx(expected.panoptic_quality)
    assert float(tp) == expected.tp
    assert metric.get_buffer().shape == (4, 4)
    metric.reset()
    with pytest.raises(ValueError, match="no image"):
        metric.aggregate()


def test_mean_and_count_metrics_agree_with_plain_functions():
    from cellbundles.metrics import CTCDetMetric, CTCSegMetric, DSBScoreMetric, ObjectOverlapMetric, RandErrorMetric

    trues, preds = _label_batch(np.random.default_rng(1))
    y_pred, y = _as_tensor(preds), _as_tensor(trues)
    dsb, rand, seg, det, overlap = (
        DSBScoreMetric(),
        RandErrorMetric(),
        CTCSegMetric(),
        CTCDetMetric(),
        ObjectOverlapMetric(min_size=50, metric_name="recall"),
    )
    for metric in (dsb, rand, seg, det, overlap):
        metric(y_pred=y_pred, y=y)
    assert float(dsb.aggregate()) == pytest.approx(np.mean([dsb_score(t, p) for t, p in zip(trues, preds)]))
    assert float(rand.aggregate()) == pytest.approx(np.mean([rand_error(t, p) for t, p in zip(trues, preds)]))
    assert float(seg.aggregate()) == pytest.approx(ctc_seg(trues, preds))
    assert float(det.aggregate()) == pytest.approx(ctc_det(trues, preds))
    per_image = [object_overlap_prf(t, p, min_size=50) for t, p in zip(trues, preds)]
    tp, n_true = sum(r.tp for r in per_image), sum(r.n_true for r in per_image)
    assert float(overlap.aggregate()) == pytest.approx(tp / n_true)


def test_centroid_detection_metric_on_points_and_label_images():
    from cellbundles.metrics import CentroidDetectionMetric

    true_points = [np.array([[2.0, 5.0, 5.0], [6.0, 20.0, 20.0]]), np.array([[4.0, 10.0, 10.0]])]
    pred_points = [np.array([[2.0, 6.0, 5.0]]), np.array([[5.0, 10.0, 10.0], [1.0, 1.0, 1.0]])]
    metric = CentroidDetectionMetric(radius=3.28, spacing=(2.0, 1.0, 1.0), metric_name=("f1", "tp", "fp", "fn"))
    metric(y_pred=[torch.as_tensor(p) for p in pred_points], y=[torch.as_tensor(t) for t in true_points])
    f1, tp, fp, fn = (float(v) for v in metric.aggregate())
    results = [match_centroids(t, p, 3.28, (2.0, 1.0, 1.0)) for t, p in zip(true_points, pred_points)]
    assert (tp, fp, fn) == (sum(r.tp for r in results), sum(r.fp for r in results), sum(r.fn for r in results))
    assert (tp, fp, fn) == (2.0, 1.0, 1.0)
    assert f1 == pytest.approx(2 / 3)

    labels = np.zeros((1, 1, 8, 16, 16), dtype=np.int64)
    labels[0, 0, 2:4, 2:6, 2:6] = 3
    shifted = np.roll(labels, 1, axis=3)
    on_images = CentroidDetectionMetric(radius=1.5, metric_name="recall")
    on_images(y_pred=torch.as_tensor(shifted), y=torch.as_tensor(labels))
    assert float(on_images.aggregate()) == 1.0
    with pytest.raises(ValueError, match="label images"):
        on_images(y_pred=torch.zeros(1, 4, 2), y=torch.zeros(1, 4, 2))


def test_metric_arguments_are_checked():
    from cellbundles.metrics import InstanceMatchingMetric

    with pytest.raises(ValueError, match="unknown metric_name"):
        InstanceMatchingMetric(metric_name="dice")
    metric = InstanceMatchingMetric()
    with pytest.raises(ValueError, match=r"\(B, 1"):
        metric(y_pred=torch.zeros(2, 3, 8, 8), y=torch.zeros(2, 3, 8, 8))


def test_handler_as_key_metric_of_a_supervised_evaluator(tmp_path, run_label_evaluator):
    from monai.handlers import MetricsSaver, from_engine

    from cellbundles.metrics import DSBScore, InstanceMatching

    trues, preds = _label_batch(np.random.default_rng(2), n_images=5)
    transform = from_engine(["pred", "label"])
    evaluator = run_label_evaluator(
        trues,
        preds,
        key_val_metric={"val_f1": InstanceMatching(thresh=0.5, metric_name="f1", output_transform=transform)},
        additional_metrics={"val_dsb": DSBScore(output_transform=transform)},
        val_handlers=[MetricsSaver(save_dir=str(tmp_path), metrics="*", metric_details=None)],
    )

    expected = match_instances_dataset(trues, preds, thresh=0.5)
    assert evaluator.state.metrics["val_f1"] == pytest.approx(expected.f1)
    assert evaluator.state.metrics["val_dsb"] == pytest.approx(np.mean([dsb_score(t, p) for t, p in zip(trues, preds)]))
    assert evaluator.state.best_metric == pytest.approx(expected.f1)
    assert evaluator.state.metric_details["val_f1"].shape == (5, 4)
    with open(tmp_path / "metrics.csv") as handle:
        saved = {row[0]: float(row[1]) for row in csv.reader(handle)}
    assert saved["val_f1"] == pytest.approx(expected.f1)
    assert saved["val_dsb"] == pytest.approx(evaluator.state.metrics["val_dsb"])
