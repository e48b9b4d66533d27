from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from cellbundles.metrics import coco_ap, voc_ap_per_image

pytest.importorskip("pycocotools")
from pycocotools import mask as mask_utils  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

SEED004_THRESHOLDS = np.linspace(0.5, 0.9, 9)
COCO_DEFAULT = np.linspace(0.5, 0.95, 10)


def _random_scene(rng, shape=(48, 56), n_true=None, n_pred=None):
    """Ground-truth label image and overlapping predicted masks: perturbed copies plus spurious blobs."""
    n_true = rng.integers(0, 9) if n_true is None else n_true
    labels = np.zeros(shape, dtype=np.int32)
    for label in rng.choice(1000, size=n_true, replace=False) + 1:
        y, x = rng.integers(0, shape[0] - 4), rng.integers(0, shape[1] - 4)
        labels[y : y + rng.integers(4, 14), x : x + rng.integers(4, 14)] = label
    ids = np.unique(labels[labels > 0])
    masks, scores = [], []
    for label in ids:
        if rng.random() < 0.8:
            shift = rng.integers(-1, 2, size=2) * rng.integers(1, 3)
            masks.append(np.roll(labels == label, tuple(shift), axis=(0, 1)))
            scores.append(rng.uniform(0.3, 1.0))
    n_extra = rng.integers(0, 4) if n_pred is None else n_pred
    for _ in range(n_extra):
        blob = np.zeros(shape, dtype=bool)
        y, x = rng.integers(0, shape[0] - 3), rng.integers(0, shape[1] - 3)
        blob[y : y + rng.integers(3, 12), x : x + rng.integers(3, 12)] = True
        masks.append(blob)
        scores.append(rng.uniform(0.0, 0.7))
    pred = np.array(masks, dtype=bool).reshape(len(masks), *shape)
    return labels, pred, np.round(scores, 1)  # coarse scores: ties are common


def _box_of(mask):
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def _as_boxes(labels, pred):
    true_boxes = np.array([_box_of(labels == i) for i in np.unique(labels[labels > 0])], dtype=float).reshape(-1, 4)
    pred_boxes = np.array([_box_of(m) for m in pred], dtype=float).reshape(-1, 4)
    return true_boxes, pred_boxes


def _pycocotools_ap(scenes, iou_type, thresholds):
    """Per-threshold AP from pycocotools on (labels, pred masks, scores) scenes."""
    images, annotations, results = [], [], []
    for image_id, (labels, pred, scores) in enumerate(scenes, start=1):
        images.append({"id": image_id, "height": labels.shape[0], "width": labels.shape[1]})
        true_boxes, pred_boxes = _as_boxes(labels, pred)
        for box, label in zip(true_boxes, np.unique(labels[labels > 0])):
            rle = mask_utils.encode(np.asfortranarray((labels == label).astype(np.uint8)))
            xywh = [box[0], box[1], box[2] - box[0], box[3] - box[1]]
            area = float(mask_utils.area(rle)) if iou_type == "segm" else xywh[2] * xywh[3]
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": 1, "segmentation": rle,
                 "area": area, "bbox": xywh, "iscrowd": 0}
            )
        for mask, box, score in zip(pred, pred_boxes, scores):
            entry = {"image_id": image_id, "category_id": 1, "score": float(score)}
            if iou_type == "segm":
                entry["segmentation"] = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            else:
                entry["bbox"] = [box[0], box[1], box[2] - box[0], box[3] - box[1]]
            results.append(entry)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "nucleus"}]}
        gt.createIndex()
        evaluation = COCOeval(gt, gt.loadRes(results), iou_type)
        evaluation.params.iouThrs = np.asarray(thresholds)
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][:, :, 0, 0, -1]  # (T, 101): category 1, area "all", 100 dets
    return np.array([p[p > -1].mean() if np.any(p > -1) else -1.0 for p in precision])


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
@pytest.mark.parametrize("thresholds", [None, SEED004_THRESHOLDS])
def test_coco_ap_agrees_with_pycocotools(iou_type, thresholds):
    rng = np.random.default_rng(0 if iou_type == "segm" else 1)
    for trial in range(6):
        scenes = [_random_scene(rng) for _ in range(4)]
        scenes.append(_random_scene(rng, n_true=0, n_pred=2))  # detections on an image without objects
        if trial == 0:
            scenes.append(_random_scene(rng, n_true=6, n_pred=115))  # more than 100 detections
        if sum(len(s[2]) for s in scenes) == 0:
            continue
        expected = _pycocotools_ap(scenes, iou_type, COCO_DEFAULT if thresholds is None else thresholds)
        if iou_type == "segm":
            inputs = [s[0] for s in scenes], [s[1] for s in scenes]
        else:
            boxes = [_as_boxes(s[0], s[1]) for s in scenes]
            inputs = [b[0] for b in boxes], [b[1] for b in boxes]
        result = coco_ap(*inputs, [s[2] for s in scenes], iou_type=iou_type, iou_thresholds=thresholds)
        if np.all(expected == -1):
            assert np.all(np.isnan(result.ap))
            continue
        np.testing.assert_allclose(result.ap, expected, atol=1e-6)
        assert result.mean_ap == pytest.approx(expected.mean(), abs=1e-6)
        assert result.ap50 == pytest.approx(expected[0], abs=1e-6)
        assert result.ap75 == pytest.approx(expected[5], abs=1e-6)


def test_equal_iou_ties_are_broken_as_pycocotools():
    # the first detection (A u B) has IoU 0.5 with both objects; COCO gives it the last one (B),
    # which leaves A to the second detection: two hits instead of one
    labels = np.zeros((10, 30), dtype=np.int32)
    labels[:, 0:10], labels[:, 20:30] = 1, 2
    pred = np.stack([labels > 0, labels == 1])
    scenes = [(labels, pred, np.array([0.9, 0.8]))]
    expected = _pycocotools_ap(scenes, "segm", [0.5])
    result = coco_ap([labels], [pred], [np.array([0.9, 0.8])], iou_thresholds=[0.5])
    assert result.ap[0] == pytest.approx(expected[0], abs=1e-6) and result.ap[0] == pytest.approx(1.0)


def _toy_boxes():
    """Two objects, three detections: ranked hits are (yes, no, yes) at IoU 0.5."""
    true_boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], dtype=float)
    pred_boxes = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 31]], dtype=float)
    return true_boxes, pred_boxes, np.array([0.9, 0.8, 0.7])


def test_known_values_of_both_protocols():
    true_boxes, pred_boxes, scores = _toy_boxes()
    voc = voc_ap_per_image([true_boxes], [pred_boxes], [scores], iou_type="bbox", iou_thresholds=[0.5])
    # precision envelope 1 up to recall 0.5, then 2/3 up to recall 1
    assert voc.ap[0] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    coco = coco_ap([true_boxes], [pred_boxes], [scores], iou_type="bbox", iou_thresholds=[0.5])
    # 51 recall points at precision 1 (0.00 ... 0.50), 50 at 2/3
    assert coco.ap[0] == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert np.isnan(coco.ap75)
    perfect = coco_ap([true_boxes], [true_boxes], [np.array([0.5, 0.4])], iou_type="bbox")
    assert perfect.mean_ap == pytest.approx(1.0) and perfect.ap50 == pytest.approx(1.0)


def test_voc_ap_per_image_averages_images():
    true_boxes, pred_boxes, scores = _toy_boxes()
    empty_true = np.zeros((0, 4))
    result = voc_ap_per_image(
        [true_boxes, true_boxes, empty_true],
        [pred_boxes, np.zeros((0, 4)), pred_boxes],
        [scores, np.zeros(0), scores],
        iou_type="bbox",
        iou_thresholds=SEED004_THRESHOLDS,
    )
    assert result.ap_per_image.shape == (3, 9)
    assert result.ap_per_image[0, 0] == pytest.approx(5 / 6)
    assert np.all(result.ap_per_image[1] == 0.0)
    assert np.all(np.isnan(result.ap_per_image[2]))
    np.testing.assert_allclose(result.ap, result.ap_per_image[:2].mean(axis=0))
    # the third detection has IoU 100 / 110 = 0.909: a hit up to 0.90
    assert result.ap_per_image[0, -1] == pytest.approx(5 / 6)


def test_voc_ap_on_masks_with_label_image_predictions():
    labels = np.zeros((20, 20), dtype=int)
    labels[0:5, 0:5] = 4
    labels[10:15, 10:15] = 9
    pred = labels.copy()
    pred[0:5, 0:3] = 0  # id 4 keeps 10 of 25 pixels: IoU 0.4
    result = voc_ap_per_image([labels], [pred], [np.array([0.9, 0.3])], iou_thresholds=[0.3, 0.5])
    assert result.ap_per_image[0].tolist() == pytest.approx([1.0, 0.5 * 0.5])


def test_max_detections_keeps_the_best_scores():
    true_boxes, pred_boxes, _ = _toy_boxes()
    kept = coco_ap([true_boxes], [pred_boxes], [np.array([0.1, 0.9, 0.8])], iou_type="bbox", max_detections=2)
    assert kept.n_pred == 2 and kept.ap50 == pytest.approx(0.5 * 51 / 101)


def test_bad_inputs_raise():
    true_boxes, pred_boxes, scores = _toy_boxes()
    with pytest.raises(ValueError, match="scores"):
        coco_ap([true_boxes], [pred_boxes], [scores[:2]], iou_type="bbox")
    with pytest.raises(ValueError, match="iou_type"):
        coco_ap([true_boxes], [pred_boxes], [scores], iou_type="keypoints")
    with pytest.raises(ValueError, match="mask stack"):
        coco_ap([np.zeros((2, 3, 4, 5))], [np.zeros((1, 3, 4))], [np.ones(1)])
