"""The ``AveragePrecision`` Ignite handler over engine outputs equals pycocotools on the same predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.handlers import from_engine

from cellbundles.metrics import AveragePrecision, AveragePrecisionMetric

pytest.importorskip("pycocotools")
from test_average_precision import SEED004_THRESHOLDS, _as_boxes, _pycocotools_ap  # noqa: E402


def _scene(offset: int):
    """Labels, non-overlapping predicted masks and their scores on a 40 x 40 image."""
    labels = np.zeros((40, 40), dtype=np.int32)
    labels[2:12, 2:12] = 1
    labels[20:30, 5 + offset : 17 + offset] = 2
    labels[25:38, 25:35] = 3
    pred = np.zeros((3, 40, 40), dtype=bool)
    pred[0, 3:12, 2:12] = True  # IoU 0.9
    pred[1, 21:30, 8 + offset : 17 + offset] = True  # IoU 0.675
    pred[2, 0:6, 30:38] = True  # false positive
    return labels, pred, np.array([0.9, 0.6, 0.7])


def _engine_output(scene):
    labels, pred, scores = scene
    instances = np.zeros(labels.shape, dtype=np.int32)
    for index, mask in enumerate(pred, start=1):
        instances[mask] = index
    _, boxes = _as_boxes(labels, pred)
    return {
        "instances": torch.from_numpy(instances)[None],
        "scores": scores,
        "boxes": boxes,
        "box_scores": scores,
        "label": torch.from_numpy(labels)[None],
    }


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_handler_equals_pycocotools(iou_type):
    scenes = [_scene(0), _scene(3)]
    keys = ["instances", "scores", "label"] if iou_type == "segm" else ["boxes", "box_scores", "label"]
    handler = AveragePrecision(iou_type=iou_type, iou_thresholds=SEED004_THRESHOLDS, output_transform=from_engine(keys))
    engine = Engine(lambda engine, batch: batch)
    handler.attach(engine, "ap")
    engine.run([[_engine_output(scene)] for scene in scenes], max_epochs=1)  # one image per iteration
    expected = _pycocotools_ap(scenes, iou_type, SEED004_THRESHOLDS)
    assert engine.state.metrics["ap"] == pytest.approx(float(np.mean(expected)))
    assert 0 < engine.state.metrics["ap"] < 1


def test_metric_names_and_bad_arguments():
    metric = AveragePrecisionMetric(metric_name="ap50")
    output = _engine_output(_scene(0))
    metric([output["instances"]], [output["scores"]], [output["label"]])
    assert metric.aggregate() == pytest.approx(float(_pycocotools_ap([_scene(0)], "segm", [0.5])[0]))
    metric.reset()
    with pytest.raises(ValueError, match="no image"):
        metric.aggregate()
    with pytest.raises(ValueError, match="iou_type"):
        AveragePrecisionMetric(iou_type="mask")
