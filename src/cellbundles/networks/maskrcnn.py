"""Mask R-CNN on the reduced ResNet-50 pyramid with the border-weighted mask loss (seed 004).

Reference:
    Korfhage N et al., "Detection and segmentation of morphologically complex eukaryotic cells in
    fluorescence microscopy images via feature pyramid fusion", PLoS Comput Biol 16(9): e1008179,
    2020 (Mask R-CNN of He et al., ICCV 2017, with a reduced ResNet-50 and a weighted mask loss).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Optional

import torch
import torch.nn as nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.roi_heads import (
    RoIHeads,
    expand_boxes,
    expand_masks,
    fastrcnn_loss,
    paste_mask_in_image,
    project_masks_on_boxes,
)
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from cellbundles.losses.maskrcnn import weighted_mask_loss

from .reduced_resnet import reduced_resnet50_fpn

__all__ = ["NativeScaleTransform", "ReducedMaskRCNN", "WeightedMaskRoIHeads", "script_for_inference"]


class NativeScaleTransform(GeneralizedRCNNTransform):
    """torchvision's detection input transform without the resizing: objects keep their pixel size.

    Images are normalised with ``image_mean`` / ``image_std`` and zero-padded to a multiple of 32
    into one batch; boxes and masks come back on each input's own grid. Microscopy images have no
    natural "short side", and nuclei must keep the size they were trained at.

    In evaluation the ``(D, 1, 28, 28)`` mask probabilities are pasted one detection at a time into one
    ``(D, 1, H, W)`` tensor: torchvision pastes them into a list and stacks it, which holds two full-size
    copies at once (for 400 detections on a 1024 x 1024 image enlarged x1.34, 3 GB each).
    """

    def resize(
        self, image: torch.Tensor, target: Optional[dict[str, torch.Tensor]] = None
    ) -> tuple[torch.Tensor, Optional[dict[str, torch.Tensor]]]:
        return image, target

    def postprocess(
        self,
        result: list[dict[str, torch.Tensor]],
        image_shapes: list[tuple[int, int]],
        original_image_sizes: list[tuple[int, int]],
    ) -> list[dict[str, torch.Tensor]]:
        if self.training:
            return result
        for index in range(len(result)):  # boxes need no rescaling: images were not resized
            detections = result[index]
            if "masks" in detections:
                height, width = original_image_sizes[index]
                masks, scale = expand_masks(detections["masks"], padding=1)
                boxes = expand_boxes(detections["boxes"], scale).to(dtype=torch.int64)
                pasted = masks.new_zeros((masks.shape[0], 1, height, width))
                for i in range(masks.shape[0]):
                    pasted[i, 0] = paste_mask_in_image(masks[i, 0], boxes[i], height, width)
                detections["masks"] = pasted
        return result


class WeightedMaskRoIHeads(RoIHeads):
    """torchvision ``RoIHeads`` whose training mask loss is weighted per pixel (seed 004, "Weighted segmentation loss").

    Each training target carries, besides ``boxes``, ``labels`` and ``masks``, a whole-image weight
    map under ``weight_key`` (``(H, W)``, e.g. :func:`cellbundles.transforms.contour_weight_map`); it is
    cropped to every positive RoI and resized to the mask head's ``M x M`` grid like the true mask,
    and the mask loss is :func:`cellbundles.losses.maskrcnn.weighted_mask_loss`. Inference is
    torchvision's.

    Args:
        weight_key: key of the weight map in each target dictionary.
        args, kwargs: those of ``RoIHeads``.
    """

    def __init__(self, *args, weight_key: str = "mask_weights", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.weight_key = weight_key

    def forward(self, features, proposals, image_shapes, targets=None):
        if not self.training:
            return super().forward(features, proposals, image_shapes, targets)
        if targets is None:
            raise ValueError("WeightedMaskRoIHeads needs targets in training mode.")
        proposals, matched_idxs, labels, regression_targets = self.select_training_samples(proposals, targets)
        box_features = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(box_features)
        loss_classifier, loss_box_reg = fastrcnn_loss(class_logits, box_regression, labels, regression_targets)

        positive = [torch.where(image_labels > 0)[0] for image_labels in labels]
        mask_proposals = [boxes[pos] for boxes, pos in zip(proposals, positive)]
        mask_features = self.mask_head(self.mask_roi_pool(features, mask_proposals, image_shapes))
        mask_logits = self.mask_predictor(mask_features)
        size = mask_logits.shape[-1]
        mask_targets, mask_weights, mask_classes = [], [], []
        for target, boxes, pos, image_matched in zip(targets, mask_proposals, positive, matched_idxs):
            matched = image_matched[pos]
            mask_targets.append(project_masks_on_boxes(target["masks"], boxes, matched, size))
            whole_image = torch.zeros_like(matched)
            mask_weights.append(project_masks_on_boxes(target[self.weight_key][None], boxes, whole_image, size))
            mask_classes.append(target["labels"][matched])
        mask_classes = torch.cat(mask_classes)
        class_logits_of_roi = mask_logits[torch.arange(mask_classes.shape[0], device=mask_logits.device), mask_classes]
        loss_mask = weighted_mask_loss(class_logits_of_roi, torch.cat(mask_targets), torch.cat(mask_weights))
        losses = {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg, "loss_mask": loss_mask}
        return [], losses


class ReducedMaskRCNN(MaskRCNN):
    """torchvision ``MaskRCNN`` on :func:`~cellbundles.networks.reduced_resnet50_fpn` for microscopy (seed 004).

    Input: a list of ``(in_channels, H, W)`` float images in [0, 1] (any size; no resizing, see
    :class:`NativeScaleTransform`), and in training a list of targets ``{"boxes": (N, 4) float x1, y1,
    x2, y2, "labels": (N,) int64, "masks": (N, H, W) uint8, "mask_weights": (H, W) float}``. Output in
    training: torchvision's loss dictionary (``loss_objectness``, ``loss_rpn_box_reg``,
    ``loss_classifier``, ``loss_box_reg``, ``loss_mask``); in evaluation: per image
    ``{"boxes": (D, 4), "labels": (D,), "scores": (D,), "masks": (D, 1, H, W) probabilities}``.

    11,584,507 parameters at the defaults: 4.05 M in the reduced ResNet-50, 2.85 M in the pyramid,
    0.59 M in the RPN head, 3.28 M in the box head (two 256-wide fully connected layers instead of
    torchvision's 1024, which alone hold 13.9 M) and 0.80 M in the mask head (four ``3x3``
    convolutions of 128 channels with batch normalisation instead of 256 without), so that float16
    weights fit the model zoo's 25 MB. The batch normalisation in the mask head keeps training from
    scratch stable: without it the first mask logits are large and SGD at lr 1e-3 diverges.

    Args:
        in_channels: image channels.
        num_classes: classes including the background (2: background, nucleus).
        anchor_sizes: one anchor size (pixels) per pyramid level P2-P6; nuclei are 5-100 pixels wide.
        anchor_ratios: anchor aspect ratios at every level.
        image_mean, image_std: per-channel normalisation of the [0, 1] input.
        box_representation_size: width of the box head's two fully connected layers.
        mask_head_channels: width of the mask head's four ``3x3`` convolutions (each followed by
            batch normalisation) and its up-sampling.
        box_batch_size_per_image: RoIs sampled per image to train the heads; box_positive_fraction:
            the positive share of them.
        rpn_pre_nms_top_n_train, rpn_post_nms_top_n_train: proposals kept before / after NMS in training.
        rpn_pre_nms_top_n_test, rpn_post_nms_top_n_test: the same in evaluation; images with hundreds of
            nuclei gain from more than torchvision's 1000.
        detections_per_img: the most detections returned per image.
        box_score_thresh: detections below this score are dropped.
        mask_weight_key: target key of the mask-loss weight map.
        widths: inner widths of the backbone's four stages (:class:`~cellbundles.networks.ReducedResNet50`).
        fpn_channels: channels of every pyramid level.
        backbone: a module mapping ``(B, in_channels, H, W)`` to the pyramid levels ``"0"``-``"3"``, ``"pool"`` with
            an ``out_channels`` attribute, used instead of the reduced ResNet-50 pyramid (``widths`` and
            ``fpn_channels`` then do not apply); e.g. :class:`~cellbundles.networks.PyramidFusion`.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        anchor_sizes: Sequence[int] = (8, 16, 32, 64, 128),
        anchor_ratios: Sequence[float] = (0.5, 1.0, 2.0),
        image_mean: Sequence[float] = (0.5,),
        image_std: Sequence[float] = (0.5,),
        box_representation_size: int = 256,
        mask_head_channels: int = 128,
        box_batch_size_per_image: int = 128,
        box_positive_fraction: float = 0.33,
        rpn_pre_nms_top_n_train: int = 2000,
        rpn_post_nms_top_n_train: int = 1000,
        rpn_pre_nms_top_n_test: int = 1000,
        rpn_post_nms_top_n_test: int = 1000,
        detections_per_img: int = 400,
        box_score_thresh: float = 0.05,
        mask_weight_key: str = "mask_weights",
        widths: Sequence[int] = (32, 64, 128, 256),
        fpn_channels: int = 256,
        backbone: Optional[nn.Module] = None,
    ) -> None:
        anchors = AnchorGenerator(
            sizes=tuple((int(size),) for size in anchor_sizes),
            aspect_ratios=(tuple(float(r) for r in anchor_ratios),) * len(anchor_sizes),
        )
        if backbone is None:
            backbone = reduced_resnet50_fpn(in_channels=in_channels, widths=widths, fpn_channels=fpn_channels)
        pooled_box_features = backbone.out_channels * 7 * 7
        super().__init__(
            backbone,
            num_classes=None,
            box_head=TwoMLPHead(pooled_box_features, box_representation_size),
            box_predictor=FastRCNNPredictor(box_representation_size, num_classes),
            mask_head=MaskRCNNHeads(
                backbone.out_channels, [mask_head_channels] * 4, dilation=1, norm_layer=nn.BatchNorm2d
            ),
            mask_predictor=MaskRCNNPredictor(mask_head_channels, mask_head_channels, num_classes),
            rpn_anchor_generator=anchors,
            rpn_pre_nms_top_n_train=rpn_pre_nms_top_n_train,
            rpn_post_nms_top_n_train=rpn_post_nms_top_n_train,
            rpn_pre_nms_top_n_test=rpn_pre_nms_top_n_test,
            rpn_post_nms_top_n_test=rpn_post_nms_top_n_test,
            box_batch_size_per_image=box_batch_size_per_image,
            box_positive_fraction=box_positive_fraction,
            box_detections_per_img=detections_per_img,
            box_score_thresh=box_score_thresh,
        )
        self.transform = NativeScaleTransform(
            min_size=1, max_size=1, image_mean=list(image_mean), image_std=list(image_std)
        )
        heads = self.roi_heads
        self.roi_heads = WeightedMaskRoIHeads(
            heads.box_roi_pool,
            heads.box_head,
            heads.box_predictor,
            fg_iou_thresh=0.5,
            bg_iou_thresh=0.5,
            batch_size_per_image=box_batch_size_per_image,
            positive_fraction=box_positive_fraction,
            bbox_reg_weights=None,
            score_thresh=box_score_thresh,
            nms_thresh=heads.nms_thresh,
            detections_per_img=detections_per_img,
            mask_roi_pool=heads.mask_roi_pool,
            mask_head=heads.mask_head,
            mask_predictor=heads.mask_predictor,
            weight_key=mask_weight_key,
        )


def script_for_inference(model: MaskRCNN) -> torch.jit.ScriptModule:
    """TorchScript of a copy of ``model`` in evaluation mode (inference only).

    torchvision's detection models are scriptable, but ``torch.export`` fails on their
    data-dependent shapes (the number of boxes surviving NMS). :class:`WeightedMaskRoIHeads`
    differs from ``RoIHeads`` only in training and calls the parent's ``forward``, which TorchScript
    cannot compile, so the copy's heads are made plain ``RoIHeads`` (same modules and settings).
    """
    inference_copy = copy.deepcopy(model).eval()
    if isinstance(inference_copy.roi_heads, WeightedMaskRoIHeads):
        inference_copy.roi_heads.__class__ = RoIHeads
    return torch.jit.script(inference_copy)
