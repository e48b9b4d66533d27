from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cellbundles.metrics import dice, hausdorff, pixel_scores

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


def test_hausdorff_metric_reads_each_volumes_voxel_size_from_the_affine():
    """Two volumes of different voxel sizes passed one by one (as a MONAI handler passes a decollated batch): each
    distance in its own um; a batch that mixes voxel sizes, or a plain tensor, is refused."""
    from monai.data import MetaTensor

    from cellbundles.metrics import HausdorffMetric

    cube = np.zeros((1, 1, 8, 12, 12), dtype=np.int64)
    cube[0, 0, 2:5, 3:7, 3:7] = 1
    shifted = torch.as_tensor(np.roll(cube, 1, axis=2))  # one voxel along z
    metric = HausdorffMetric(spacing="affine")
    for z_size in (2.0, 3.0):
        affine = torch.diag(torch.tensor([z_size, 0.5, 0.5, 1.0], dtype=torch.float64))
        metric(y_pred=MetaTensor(shifted, affine=affine), y=torch.as_tensor(cube))
    assert float(metric.aggregate()) == pytest.approx(2.5)
    mixed = MetaTensor(torch.cat([shifted, shifted]), affine=torch.stack([torch.diag(torch.tensor([z, 0.5, 0.5, 1.0])) for z in (2.0, 3.0)]))
    mixed.is_batch = True
    with pytest.raises(ValueError, match="several voxel sizes"):
        HausdorffMetric(spacing="affine")(y_pred=mixed, y=torch.as_tensor(np.concatenate([cube, cube])))
    with pytest.raises(ValueError, match="MetaTensor"):
        HausdorffMetric(spacing="affine")(y_pred=shifted, y=torch.as_tensor(cube))
    with pytest.raises(ValueError, match="'affine'"):
        HausdorffMetric(spacing="pixdim")


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


def test_handlers_in_a_supervised_evaluator(run_label_evaluator):
    from monai.handlers import from_engine

    from cellbundles.metrics import DiceScore, Hausdorff

    trues, preds = _image_pairs(np.random.default_rng(3))
    transform = from_engine(["pred", "label"])
    evaluator = run_label_evaluator(
        trues,
        preds,
        key_val_metric={"val_dice": DiceScore(output_transform=transform)},
        additional_metrics={
            "val_hd": Hausdorff(spacing=SPACING, output_transform=transform),
            "val_hd95": Hausdorff(spacing=SPACING, percentile=95, output_transform=transform),
            "val_hd_infinite": Hausdorff(spacing=SPACING, metric_name="n_infinite", output_transform=transform),
        },
    )

    expected = [hausdorff(t, p, spacing=SPACING) for t, p in zip(trues, preds)]
    metrics = evaluator.state.metrics
    assert metrics["val_dice"] == pytest.approx(np.mean([dice(t, p) for t, p in zip(trues, preds)]))
    assert metrics["val_hd"] == pytest.approx(np.mean([r.hd for r in expected if math.isfinite(r.hd)]))
    assert metrics["val_hd95"] == pytest.approx(np.mean([r.hd95 for r in expected if math.isfinite(r.hd95)]))
    assert metrics["val_hd_infinite"] == 1.0
    assert evaluator.state.metric_details["val_hd"].shape == (4, 2)


PIXEL_NAMES = ("iou", "precision", "recall", "f1")


def _pixel_pair_2d():
    """A 10 x 10 pair with tp = 8, |true| = 24, |pred| = 20: iou 2/9, precision 2/5, recall 1/3, f1 4/11."""
    y_true = np.zeros((10, 10), dtype=np.int64)
    y_pred = np.zeros_like(y_true)
    y_true[0:4, 0:5] = 3
    y_true[6:8, 6:8] = 5
    y_pred[0:4, 3:5] = 1
    y_pred[0:4, 5:8] = 9
    return y_true, y_pred


def test_pixel_overlap_metric_averages_per_image_values():
    from cellbundles.metrics import PixelOverlapMetric

    y_true, y_pred = _pixel_pair_2d()
    perfect = np.zeros_like(y_true)
    perfect[2:9, 1:4] = 6  # predicted exactly (with another id) in the second image
    metric = PixelOverlapMetric(metric_name=PIXEL_NAMES)
    metric(y_pred=_as_tensor([y_pred, perfect * 2]), y=_as_tensor([y_true, perfect]))
    iou, precision, recall, f1 = (float(v) for v in metric.aggregate())
    assert iou == pytest.approx((2 / 9 + 1) / 2, abs=1e-12)
    assert precision == pytest.approx((2 / 5 + 1) / 2, abs=1e-12)
    assert recall == pytest.approx((1 / 3 + 1) / 2, abs=1e-12)
    assert f1 == pytest.approx((4 / 11 + 1) / 2, abs=1e-12)
    # a mean over images, not the IoU of the pooled pixels: tp = 8 + 21, union = 36 + 21
    assert iou != pytest.approx(29 / 57)
    assert metric.get_buffer().shape == (2, 4)
    assert metric.get_buffer()[0].tolist() == pytest.approx([2 / 9, 2 / 5, 1 / 3, 4 / 11], abs=1e-12)


def test_pixel_overlap_metric_agrees_with_mean_of_pixel_scores():
    from cellbundles.metrics import PixelOverlapMetric

    trues, preds = _image_pairs(np.random.default_rng(4))
    expected = [pixel_scores(t, p) for t, p in zip(trues, preds)]
    assert expected[-1] == {"iou": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0}  # empty prediction
    for names in (PIXEL_NAMES, ("f1", "iou"), ("recall", "precision", "iou")):
        metric = PixelOverlapMetric(metric_name=names)
        metric(y_pred=_as_tensor(preds[:2]), y=_as_tensor(trues[:2]))
        metric(y_pred=[torch.as_tensor(p[None]) for p in preds[2:]], y=[torch.as_tensor(t[None]) for t in trues[2:]])
        values = metric.aggregate()
        assert isinstance(values, list) and len(values) == len(names)
        for name, value in zip(names, values):
            assert float(value) == pytest.approx(np.mean([e[name] for e in expected]), abs=1e-12), name
        assert metric.get_buffer().shape == (4, 4)

    single = PixelOverlapMetric()  # default: the pixel IoU, as one 0-d tensor
    single(y_pred=_as_tensor(preds), y=_as_tensor(trues))
    value = single.aggregate()
    assert isinstance(value, torch.Tensor) and value.ndim == 0
    assert float(value) == pytest.approx(np.mean([e["iou"] for e in expected]), abs=1e-12)


def test_pixel_overlap_arguments_are_checked():
    from cellbundles.metrics import PixelOverlap, PixelOverlapMetric

    for bad in ("dice", ("iou", "dice"), (), "IoU"):
        with pytest.raises(ValueError, match="unknown metric_name"):
            PixelOverlapMetric(metric_name=bad)
    with pytest.raises(ValueError, match="unknown metric_name"):
        PixelOverlap(metric_name="accuracy")
    metric = PixelOverlapMetric()
    with pytest.raises(ValueError, match="no image"):
        metric.aggregate()
    with pytest.raises(ValueError, match=r"\(B, 1"):
        metric(y_pred=torch.zeros(2, 3, 8, 8), y=torch.zeros(2, 3, 8, 8))


def test_pixel_overlap_handler_on_an_ignite_engine():
    from ignite.engine import Engine

    from cellbundles.metrics import PixelOverlap

    y_true, y_pred = _pixel_pair_2d()
    batches = [
        (_as_tensor([y_pred]), _as_tensor([y_true])),
        (_as_tensor([np.zeros_like(y_pred)]), _as_tensor([y_true])),  # empty prediction: all 0
        (_as_tensor([np.zeros_like(y_pred)]), _as_tensor([np.zeros_like(y_true)])),  # both empty: all 1
    ]
    engine = Engine(lambda engine, batch: batch)
    for name in PIXEL_NAMES:
        PixelOverlap(metric_name=name).attach(engine, f"pixel_{name}")
    engine.run(batches, max_epochs=2)  # the handler resets every epoch

    expected = {"iou": 2 / 9, "precision": 2 / 5, "recall": 1 / 3, "f1": 4 / 11}
    for name, value in expected.items():
        assert engine.state.metrics[f"pixel_{name}"] == pytest.approx((value + 0 + 1) / 3, abs=1e-12), name
    assert engine.state.metric_details["pixel_iou"].shape == (3, 4)


def test_pixel_overlap_handler_in_a_supervised_evaluator(run_label_evaluator):
    from monai.handlers import from_engine

    from cellbundles.metrics import PixelOverlap

    trues, preds = _image_pairs(np.random.default_rng(5))
    transform = from_engine(["pred", "label"])
    evaluator = run_label_evaluator(
        trues,
        preds,
        key_val_metric={"val_iou": PixelOverlap(output_transform=transform)},
        additional_metrics={"val_recall": PixelOverlap(metric_name="recall", output_transform=transform)},
        batch_size=3,
    )

    expected = [pixel_scores(t, p) for t, p in zip(trues, preds)]
    assert evaluator.state.metrics["val_iou"] == pytest.approx(np.mean([e["iou"] for e in expected]), abs=1e-12)
    assert evaluator.state.metrics["val_recall"] == pytest.approx(np.mean([e["recall"] for e in expected]), abs=1e-12)
    assert evaluator.state.best_metric == pytest.approx(evaluator.state.metrics["val_iou"])
    assert evaluator.state.metric_details["val_iou"].shape == (4, 4)
