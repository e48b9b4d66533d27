"""Instance detection: torchvision detection targets from instance labels, and instances from detections.

Used by the Mask R-CNN bundle (seed 004, Korfhage N et al., PLoS Comput Biol 16(9): e1008179, 2020):
:class:`InstancesToDetectionTargetsd` turns a channel-first label image into the boxes, classes,
masks and mask-loss weights torchvision's ``MaskRCNN`` trains on;
:class:`DetectionsToInstancesd` turns the output of :class:`cellbundles.engines.DetectionInferer`
into an instance label image with one score per instance.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import convert_to_numpy, convert_to_tensor
from scipy import ndimage

from cellbundles.metrics.instance_iou import instance_boxes
from cellbundles.postprocess import relabel_by_rank

from .utils import as_instance_labels, describe
from .weights import contour_weight_map

__all__ = [
    "DetectionsToInstancesD",
    "DetectionsToInstancesDict",
    "DetectionsToInstancesd",
    "InstancesToDetectionTargetsD",
    "InstancesToDetectionTargetsDict",
    "InstancesToDetectionTargetsd",
    "detection_targets",
]


def detection_targets(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes, classes and masks of the objects of a 2D label image, in increasing id order.

    Args:
        labels: ``(H, W)`` instance labels, 0 background.

    Returns:
        ``(N, 4)`` float32 boxes ``x1, y1, x2, y2`` covering whole pixels (see
        :func:`cellbundles.metrics.instance_iou.instance_boxes`), ``(N,)`` int64 classes (all 1) and
        ``(N, H, W)`` uint8 masks.
    """
    labels = as_instance_labels(labels)
    ids, boxes = instance_boxes(labels)
    masks = (labels[None] == ids[:, None, None]).astype(np.uint8)
    return boxes.astype(np.float32), np.ones(ids.size, dtype=np.int64), masks


class InstancesToDetectionTargetsd(MapTransform):
    """torchvision detection targets and seed 004's mask-loss weights from ``(1, H, W)`` instance labels.

    Writes ``box_key`` ``(N, 4)`` float32, ``class_key`` ``(N,)`` int64, ``mask_key`` ``(N, H, W)``
    uint8 (see :func:`detection_targets`) and ``weight_key`` ``(H, W)`` float32
    (:func:`cellbundles.transforms.contour_weight_map`), all as tensors.

    Args:
        keys: key of the instance labels (one key).
        box_key, class_key, mask_key, weight_key: output keys.
        sigma, kernel_size: of the weight map's Gaussian blur (seed 004: 5 and 25).
    """

    def __init__(
        self,
        keys: KeysCollection = "label",
        box_key: str = "boxes",
        class_key: str = "classes",
        mask_key: str = "masks",
        weight_key: str = "mask_weights",
        sigma: float = 5.0,
        kernel_size: int = 25,
    ) -> None:
        super().__init__(keys)
        if len(self.keys) != 1:
            raise ValueError(f"InstancesToDetectionTargetsd takes one label key, got {self.keys}.")
        self.box_key, self.class_key, self.mask_key, self.weight_key = box_key, class_key, mask_key, weight_key
        self.sigma = sigma
        self.kernel_size = kernel_size

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        labels = d[self.keys[0]]
        array = convert_to_numpy(labels)
        if array.ndim != 3 or array.shape[0] != 1:
            raise ValueError(f"{describe(labels, 'labels')} must be (1, H, W), got shape {array.shape}.")
        boxes, classes, masks = detection_targets(array[0])
        d[self.box_key] = torch.from_numpy(boxes)
        d[self.class_key] = torch.from_numpy(classes)
        d[self.mask_key] = torch.from_numpy(masks)
        weights = contour_weight_map(array[0], sigma=self.sigma, kernel_size=self.kernel_size)
        d[self.weight_key] = torch.from_numpy(weights.astype(np.float32))
        return d


class DetectionsToInstancesd(MapTransform):
    """Instance labels, per-instance scores and centroids from one image's detections.

    Reads ``keys`` (one key): the dictionary :class:`cellbundles.engines.DetectionInferer` returns per
    image, ``{"instances": (1, H, W) painted detection ids, "boxes": (D, 4), "scores": (D,)}`` with
    NaN rows as padding. Writes:

    - ``instance_key``: ``(1, H, W)`` int32 instances, ids ``1..K`` in decreasing score order,
      objects under ``min_size`` pixels removed;
    - ``score_key``: ``(K,)`` score of each instance; ``centroid_key``: ``(K, 2)`` its centroid (y, x);
    - ``box_key`` / ``box_score_key``: the ``(D', 4)`` boxes and ``(D',)`` scores of the detections
      scoring at least ``min_score`` (padding removed), for box AP;
    - ``zoom_key``: the factor the image was resized by for detection (1.0 when the detections have none).

    Args:
        keys: key of the detections.
        min_size: smallest instance kept, in pixels.
        min_score: lowest detection score kept.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        instance_key: str = "instances",
        score_key: str = "scores",
        centroid_key: str = "centroids",
        box_key: str = "boxes",
        box_score_key: str = "box_scores",
        zoom_key: str = "zoom",
        min_size: int = 0,
        min_score: float = 0.0,
    ) -> None:
        super().__init__(keys)
        if len(self.keys) != 1:
            raise ValueError(f"DetectionsToInstancesd takes one detections key, got {self.keys}.")
        self.instance_key, self.score_key, self.centroid_key = instance_key, score_key, centroid_key
        self.box_key, self.box_score_key, self.zoom_key = box_key, box_score_key, zoom_key
        self.min_size = min_size
        self.min_score = min_score

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        detections = d[self.keys[0]]
        scores = convert_to_numpy(detections["scores"]).astype(np.float64).reshape(-1)
        real = ~np.isnan(scores)
        painted = convert_to_numpy(detections["instances"]).astype(np.int32)
        instances, instance_scores = relabel_by_rank(
            painted[0], scores[real], min_size=self.min_size, min_score=self.min_score
        )
        kept = real & (np.nan_to_num(scores, nan=-np.inf) >= self.min_score)
        n_instances = instance_scores.size
        centroids = ndimage.center_of_mass(np.ones_like(instances), instances, np.arange(1, n_instances + 1))
        d[self.instance_key] = convert_to_tensor(instances[None], track_meta=False)
        d[self.score_key] = instance_scores
        d[self.centroid_key] = np.asarray(centroids, dtype=np.float64).reshape(n_instances, 2)
        d[self.box_key] = convert_to_numpy(detections["boxes"]).astype(np.float64).reshape(-1, 4)[kept]
        d[self.box_score_key] = scores[kept]
        d[self.zoom_key] = float(convert_to_numpy(detections.get("zoom", 1.0)).reshape(-1)[0])
        return d


InstancesToDetectionTargetsD = InstancesToDetectionTargetsDict = InstancesToDetectionTargetsd
DetectionsToInstancesD = DetectionsToInstancesDict = DetectionsToInstancesd
