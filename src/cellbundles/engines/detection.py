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
import torch.nn.functional as F
from monai.engines import PrepareBatch
from monai.inferers import Inferer
from monai.utils import convert_to_tensor
from scipy import sparse

from cellbundles.postprocess import median_diameter_um, merge_view_detections, paint_instances, relabel_by_rank

__all__ = ["DetectionInferer", "InstanceLabelNetwork", "PrepareDetectionBatch", "TTA_MODES", "zoom_for_diameter"]

#: test-time augmentation of :class:`DetectionInferer`: name -> the flipped dimensions of each view
TTA_MODES = {"none": ((),), "flips": ((), (-1,), (-2,), (-2, -1))}


def zoom_for_diameter(
    diameter: float | str | None,
    trained_diameter: float,
    zoom_range: Sequence[float] = (0.5, 2.0),
    tolerance: float = 0.05,
    name: str = "diameter",
) -> float | str:
    """:class:`DetectionInferer`'s resize factor for objects ``diameter`` pixels across, its network having been trained
    on objects of ``trained_diameter``: their ratio clipped to ``zoom_range``, and 1.0 within ``tolerance`` of 1 (a
    slight bilinear resize only smooths the noise the network learnt). None gives 1.0 (the image's own scale) and
    ``"auto"`` stays ``"auto"`` (measured by the inferer's first pass, which uses this function too). ``name``: the
    option's name in the error for anything else."""
    if diameter is None or diameter == "auto":
        return 1.0 if diameter is None else "auto"
    try:
        value = float(diameter)
    except (TypeError, ValueError):
        value = float("nan")
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of pixels, 'auto' or None, got {diameter!r}.")
    zoom = float(np.clip(trained_diameter / value, zoom_range[0], zoom_range[1]))
    return 1.0 if abs(zoom - 1.0) <= tolerance else zoom


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
    is 1). Output ``{"instances": (B, 1, H, W) int32, "boxes": (B, D, 4), "scores": (B, D), "zoom": (B,)}``:
    the detections' masks painted into one label image per image (mask probability
    ``>= mask_threshold``, the higher score wins overlaps, detection ``i`` in decreasing score order
    gets id ``i + 1``), their boxes and scores padded with NaN to ``D = max_detections``, and the
    factor each image was resized by. :class:`cellbundles.transforms.DetectionsToInstancesd` takes one
    decollated item of it.

    Detectors see nuclei best at the size they were trained on. With ``zoom="auto"`` (like Cellpose's
    diameter) a first pass at the image's own size measures the median equivalent-disc diameter ``d`` of
    the detections scoring at least ``size_min_score``; when ``nucleus_diameter / d`` (clipped to
    ``zoom_range``) differs from 1 by more than 5 % (:func:`zoom_for_diameter`), the image is resized by it (bilinear), detected
    again, painted on the resized grid and the labels are brought back to the input grid (nearest);
    boxes are divided by the zoom. A number resizes every image by that factor. An enlarged image has
    at most ``max_zoomed_pixels`` pixels (the zoom is lowered to fit, never below 1), which bounds the
    memory of torchvision's full-size masks (``D x H' x W'`` floats).

    With ``tta="flips"`` the final pass sees the (resized) image as it is and flipped along x, y and both;
    the flips are undone on the masks (binarised at ``mask_threshold``) of the detections scoring at least
    ``tta_min_score`` and :func:`cellbundles.postprocess.merge_view_detections` merges the four views (score:
    the mean over the views, 0 where a view missed the nucleus; mask: the pixels of at least half of the
    views that saw it); boxes are those of the merged masks.

    Args:
        mask_threshold: mask probability from which a pixel belongs to a detection.
        max_detections: padding length; must be at least the model's detections per image.
        zoom: ``"auto"`` or the factor every image is resized by before detection.
        nucleus_diameter: median nucleus diameter, pixels, that ``"auto"`` resizes to.
        zoom_range: lowest and highest factor of ``"auto"``.
        size_min_score: detections of the first pass that measure the nucleus size score at least this.
        max_zoomed_pixels: largest resized image, pixels.
        tta: ``"none"`` or ``"flips"`` (test-time augmentation of the final pass).
        tta_min_score: detections of a flipped view that take part in the merge score at least this.
    """

    def __init__(
        self,
        mask_threshold: float = 0.5,
        max_detections: int = 400,
        zoom: float | str = 1.0,
        nucleus_diameter: float = 32.0,
        zoom_range: Sequence[float] = (0.5, 2.0),
        size_min_score: float = 0.7,
        max_zoomed_pixels: int = 2**21,
        tta: str = "none",
        tta_min_score: float = 0.3,
    ) -> None:
        super().__init__()
        if tta not in TTA_MODES:
            raise ValueError(f"tta must be one of {sorted(TTA_MODES)}, got {tta!r}.")
        if zoom != "auto" and not (isinstance(zoom, (int, float)) and zoom > 0):
            raise ValueError(f"zoom must be 'auto' or a positive number, got {zoom!r}.")
        if len(zoom_range) != 2 or not 0 < zoom_range[0] <= zoom_range[1]:
            raise ValueError(f"zoom_range must be (low, high) with 0 < low <= high, got {zoom_range}.")
        self.mask_threshold = mask_threshold
        self.max_detections = max_detections
        self.zoom = zoom
        self.nucleus_diameter = nucleus_diameter
        self.zoom_range = (float(zoom_range[0]), float(zoom_range[1]))
        self.size_min_score = size_min_score
        self.max_zoomed_pixels = max_zoomed_pixels
        self.views = TTA_MODES[tta]
        self.tta_min_score = tta_min_score

    def __call__(self, inputs: torch.Tensor, network: nn.Module, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        images = [convert_to_tensor(image, track_meta=False) for image in inputs]
        height = max(image.shape[-2] for image in images)
        width = max(image.shape[-1] for image in images)
        instances = torch.zeros(len(images), 1, height, width, dtype=torch.int32)
        boxes = torch.full((len(images), self.max_detections, 4), float("nan"))
        scores = torch.full((len(images), self.max_detections), float("nan"))
        zooms = torch.ones(len(images))
        for index, image in enumerate(images):
            zoom = 1.0 if self.zoom == "auto" else float(self.zoom)
            if self.zoom == "auto":
                painted, found_boxes, found_scores, _ = self._detect(image, network, 1.0, ((),), *args, **kwargs)
                zoom = self._fit_zoom(image, self._auto_zoom(painted, found_scores))
            if self.zoom != "auto" or zoom != 1.0 or len(self.views) > 1:
                painted, found_boxes, found_scores, zoom = self._detect(image, network, zoom, self.views, *args, **kwargs)
            n_found = found_scores.shape[0]
            if n_found > self.max_detections:
                raise ValueError(f"{n_found} detections exceed max_detections={self.max_detections}.")
            instances[index, 0, : image.shape[-2], : image.shape[-1]] = torch.from_numpy(painted.astype(np.int32))
            boxes[index, :n_found] = found_boxes
            scores[index, :n_found] = found_scores
            zooms[index] = zoom
        device = images[0].device
        return {"instances": instances.to(device), "boxes": boxes.to(device), "scores": scores.to(device), "zoom": zooms.to(device)}

    def _fit_zoom(self, image: torch.Tensor, zoom: float) -> float:
        """An enlarging ``zoom`` lowered (not below 1) so that the resized image has at most ``max_zoomed_pixels`` pixels."""
        pixels = image.shape[-2] * image.shape[-1]
        return float(min(zoom, max(1.0, (self.max_zoomed_pixels / pixels) ** 0.5)))

    def _auto_zoom(self, painted: np.ndarray, found_scores: torch.Tensor) -> float:
        """Factor that brings the median diameter of the confident detections to ``nucleus_diameter``."""
        confident = np.flatnonzero(found_scores.numpy() >= self.size_min_score) + 1
        diameter = median_diameter_um(np.where(np.isin(painted, confident), painted, 0))
        return zoom_for_diameter(diameter, self.nucleus_diameter, self.zoom_range) if diameter else 1.0

    def _detect(
        self, image: torch.Tensor, network: nn.Module, zoom: float, views: Sequence[tuple[int, ...]], *args: Any, **kwargs: Any
    ) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, float]:
        """One image's painted ``(H, W)`` detections on its own grid, ``(D, 4)`` boxes, ``(D,)`` scores, the zoom used;
        ``views``: the flipped dimensions of each view (``((),)``: the image as it is)."""
        zoom = self._fit_zoom(image, zoom)
        zoomed = image
        if zoom != 1.0:
            zoomed = F.interpolate(image[None], scale_factor=zoom, mode="bilinear", align_corners=False)[0]
        if len(views) == 1:
            found = network([zoomed], *args, **kwargs)[0]
            masks = found["masks"][:, 0].detach().cpu().numpy().reshape(-1, *zoomed.shape[-2:])
            found_scores, found_boxes = found["scores"].detach().cpu().float(), found["boxes"].detach().cpu().float()
            painted = paint_instances(masks, found_scores.numpy(), self.mask_threshold)
        else:
            painted, found_boxes, found_scores = self._detect_views(zoomed, network, views, *args, **kwargs)
        if zoom != 1.0:
            painted_tensor = torch.from_numpy(painted)[None, None].float()
            painted = F.interpolate(painted_tensor, size=tuple(image.shape[-2:]), mode="nearest")[0, 0].numpy().astype(np.int32)
        return painted, found_boxes / zoom, found_scores, zoom

    def _detect_views(
        self, image: torch.Tensor, network: nn.Module, views: Sequence[tuple[int, ...]], *args: Any, **kwargs: Any
    ) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        """Detections of the flipped views of ``(C, H, W)`` merged: painted ``(H, W)``, ``(K, 4)`` boxes, ``(K,)`` scores."""
        height, width = image.shape[-2:]
        masks, scores, view_ids = [], [], []
        for view, dims in enumerate(views):
            found = network([torch.flip(image, dims) if dims else image], *args, **kwargs)[0]
            confident = found["scores"] >= self.tta_min_score
            view_masks = (found.pop("masks")[:, 0].detach().cpu() >= self.mask_threshold)[confident]  # bool, not float
            view_masks = torch.flip(view_masks, dims) if dims else view_masks
            masks.append(sparse.csr_matrix(view_masks.numpy().reshape(-1, height * width), dtype=np.int64))
            scores.append(found["scores"][confident].detach().cpu().numpy())
            view_ids.append(np.full(int(confident.sum()), view))
        merged, merged_scores = merge_view_detections(sparse.vstack(masks), np.concatenate(scores), np.concatenate(view_ids), len(views))
        merged, merged_scores = merged[: self.max_detections].reshape(-1, height, width), merged_scores[: self.max_detections]
        painted = paint_instances(merged, merged_scores, 0.5)
        rows, columns = merged.any(axis=2), merged.any(axis=1)
        boxes = [[c.argmax(), r.argmax(), width - c[::-1].argmax(), height - r[::-1].argmax()] for r, c in zip(rows, columns)]
        return painted, torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.from_numpy(merged_scores).float()


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
