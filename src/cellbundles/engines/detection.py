"""Batch preparation and inference for torchvision detection models in MONAI engines (seed 004's Mask R-CNN).

torchvision detectors take a list of images (and, in training, a list of target dictionaries) and
return a loss dictionary in training and a list of per-image detection dictionaries in evaluation.
:class:`PrepareDetectionBatch` lets MONAI's ``SupervisedTrainer`` feed them (the loss dictionary is
then summed by :class:`cellbundles.losses.MaskRCNNLossSum`); :class:`DetectionInferer` turns the
detections into batch-first tensors that MONAI's evaluators decollate like any other output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from monai.engines import PrepareBatch
from monai.inferers import Inferer
from monai.utils import convert_to_tensor

from cellbundles.postprocess import paint_instances, relabel_by_rank

__all__ = ["DetectionInferer", "InstanceLabelNetwork", "PrepareDetectionBatch"]


class PrepareDetectionBatch(PrepareBatch):
    """``(images, targets, (), {"targets": targets})`` from a list of items (``collate_fn=no_collation``).

    Each item holds a ``(C, H, W)`` image and its targets; ``target_keys`` maps the names torchvision
    expects (``boxes``, ``labels``, ``masks``, ...) to item keys. The network is then called as
    ``network(images, targets=targets)``, which for a torchvision detector in training mode returns
    its loss dictionary; ``targets`` also reach the loss function, which ignores them.

    Args:
        target_keys: torchvision target name -> item key.
        image_key: item key of the image.
    """

    def __init__(
        self,
        target_keys: Mapping[str, str] | None = None,
        image_key: str = "image",
    ) -> None:
        default_keys = {"boxes": "boxes", "labels": "classes", "masks": "masks", "mask_weights": "mask_weights"}
        self.target_keys = dict(default_keys if target_keys is None else target_keys)
        self.image_key = image_key

    def __call__(
        self,
        batchdata: Sequence[Mapping[str, Any]],
        device: str | torch.device | None = None,
        non_blocking: bool = False,
        **kwargs: Any,
    ) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]], tuple, dict[str, Any]]:
        def to_device(value: Any) -> torch.Tensor:
            return convert_to_tensor(value, track_meta=False).to(device=device, non_blocking=non_blocking, **kwargs)

        if isinstance(batchdata, Mapping):
            raise ValueError("PrepareDetectionBatch needs a list of items: give the DataLoader collate_fn=no_collation.")
        images = [to_device(item[self.image_key]) for item in batchdata]
        targets = [{name: to_device(item[key]) for name, key in self.target_keys.items()} for item in batchdata]
        return images, targets, (), {"targets": targets}


class DetectionInferer(Inferer):
    """Runs a torchvision instance-segmentation model on a batch and returns batch-first tensors.

    Input ``(B, C, H, W)`` (a list of differently sized ``(C, H, W)`` images also works when ``B``
    is 1). Output ``{"instances": (B, 1, H, W) int32, "boxes": (B, D, 4), "scores": (B, D)}``:
    the detections' masks painted into one label image per image (mask probability
    ``>= mask_threshold``, the higher score wins overlaps, detection ``i`` in decreasing score order
    gets id ``i + 1``), and their boxes and scores padded with NaN to ``D = max_detections``.
    :class:`cellbundles.transforms.DetectionsToInstancesd` takes one decollated item of it.

    Args:
        mask_threshold: mask probability from which a pixel belongs to a detection.
        max_detections: padding length; must be at least the model's detections per image.
    """

    def __init__(self, mask_threshold: float = 0.5, max_detections: int = 400) -> None:
        super().__init__()
        self.mask_threshold = mask_threshold
        self.max_detections = max_detections

    def __call__(self, inputs: torch.Tensor, network: nn.Module, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        images = [convert_to_tensor(image, track_meta=False) for image in inputs]
        detections = network(images, *args, **kwargs)
        height = max(image.shape[-2] for image in images)
        width = max(image.shape[-1] for image in images)
        instances = torch.zeros(len(images), 1, height, width, dtype=torch.int32)
        boxes = torch.full((len(images), self.max_detections, 4), float("nan"))
        scores = torch.full((len(images), self.max_detections), float("nan"))
        for index, (image, found) in enumerate(zip(images, detections)):
            n_found = found["scores"].shape[0]
            if n_found > self.max_detections:
                raise ValueError(f"{n_found} detections exceed max_detections={self.max_detections}.")
            masks = found["masks"][:, 0].detach().cpu().numpy()
            painted = paint_instances(masks, found["scores"].detach().cpu().numpy(), self.mask_threshold)
            instances[index, 0, : image.shape[-2], : image.shape[-1]] = torch.from_numpy(painted.astype(np.int32))
            boxes[index, :n_found] = found["boxes"].detach().cpu().float()
            scores[index, :n_found] = found["scores"].detach().cpu().float()
        device = images[0].device
        return {"instances": instances.to(device), "boxes": boxes.to(device), "scores": scores.to(device)}


class InstanceLabelNetwork(nn.Module):
    """A torchvision instance-segmentation model seen as tensor in, tensor out: ``(B, C, H, W)`` images ->
    ``(B, 1, H, W)`` uint16 instance labels.

    Detection models return a list of per-image dictionaries of varying length (boxes, labels, scores,
    masks), which MONAI's ``verify_net_in_out`` and other tensor-only callers cannot check. This wrapper
    runs :class:`DetectionInferer` and then what the bundles' post-processing does to reach ``pred``
    (:func:`cellbundles.postprocess.relabel_by_rank`): ids ``1..K`` in decreasing score order,
    detections under ``min_score`` and objects under ``min_size`` pixels removed. The FPF bundle's
    optional cell rules are not applied. The painting runs in numpy, so the wrapper is neither
    differentiable nor scriptable; script the wrapped network instead
    (:func:`cellbundles.networks.maskrcnn.script_for_inference`).

    Args:
        network: a torchvision ``MaskRCNN`` (e.g. ``ReducedMaskRCNN``, ``FPFMaskRCNN``).
        mask_threshold: mask probability from which a pixel belongs to a detection.
        min_score: lowest detection score kept.
        min_size: smallest object kept, in pixels.
        max_detections: at least the network's detections per image.
    """

    def __init__(
        self,
        network: nn.Module,
        mask_threshold: float = 0.5,
        min_score: float = 0.0,
        min_size: int = 0,
        max_detections: int = 400,
    ) -> None:
        super().__init__()
        self.network = network
        self.inferer = DetectionInferer(mask_threshold=mask_threshold, max_detections=max_detections)
        self.min_score = min_score
        self.min_size = min_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4:
            raise ValueError(f"expected a (B, C, H, W) batch of images, got shape {tuple(images.shape)}.")
        detections = self.inferer(images, self.network)
        scores = detections["scores"].detach().cpu().numpy()
        painted = detections["instances"].detach().cpu().numpy()
        labels = np.zeros(painted.shape, dtype=np.uint16)
        for index in range(painted.shape[0]):
            real = ~np.isnan(scores[index])
            relabelled, _ = relabel_by_rank(
                painted[index, 0], scores[index][real], min_size=self.min_size, min_score=self.min_score
            )
            labels[index, 0] = relabelled
        return torch.from_numpy(labels).to(images.device)
