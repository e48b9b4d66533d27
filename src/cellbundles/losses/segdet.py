"""Joint segmentation + density loss with per-sample annotation masking (seed 000, section 2.2)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.losses import DiceLoss

from cellbundles.networks.segdet import split_segdet_output

__all__ = ["SegDetLoss"]


class SegDetLoss(nn.Module):
    """Dice + border-weighted cross-entropy on the segmentation logits, L1 on the density.

    ``loss = dice_weight * Dice(S) + ce_weight * wCE(S) + density_weight * L1(D) + distance_weight * BCE(T)``,
    where each term is the mean over the samples of the batch that carry the matching annotation: the
    segmentation and distance terms over samples with ``has_mask == 1``, the density term over samples with
    ``has_centroids == 1``. A sample without masks therefore adds exactly nothing (and no gradient)
    to the segmentation terms, and a term is zero when no sample of the batch has its annotation
    (the denominator is clamped at one). Without a flag in the target every sample counts.

    - Dice: soft Dice over all ``seg_channels`` classes (softmax of ``S``), per sample, averaged
      over classes (MONAI ``DiceLoss``).
    - wCE: voxel-wise cross-entropy multiplied by the weight map (U-Net border weights, see
      :class:`cellbundles.transforms.BorderWeightMap`; one if the target has no weight map),
      averaged over the voxels of each sample.
    - L1: mean absolute difference between the predicted and target densities of each sample.
    - BCE (our addition, only for ``SegDetNet(distance_output=True)``): binary cross-entropy between the
      distance logit ``T`` and the normalised distance of the instance labels
      (:class:`cellbundles.transforms.NormalisedDistanced`), averaged over the voxels of each sample.

    The input is a :class:`cellbundles.networks.SegDetNet` output; the target is a mapping (see
    :class:`cellbundles.engines.PrepareBatchTargetDict` to build it from a batch in MONAI trainers).

    Args:
        dice_weight: weight of the Dice term (paper: 1).
        ce_weight: weight of the weighted cross-entropy term (paper: 1).
        density_weight: weight of the L1 density term (paper: 1).
        distance_weight: weight of the distance term (0: the paper's loss; the input then has no distance channel).
        seg_channels: number of segmentation channels in front of the density channel.
        label_key: target key of the class-index labels ``(B, 1, [D,] H, W)`` (0 background, 1 nucleus).
        weight_key: target key of the cross-entropy weight map ``(B, 1, [D,] H, W)`` (optional).
        density_key: target key of the density ``(B, 1, [D,] H, W)``.
        distance_key: target key of the normalised distance ``(B, 1, [D,] H, W)`` in [0, 1].
        has_mask_key: target key of the ``(B,)`` or ``(B, 1)`` mask availability flags (optional).
        has_centroids_key: target key of the centroid availability flags (optional).
        smooth_nr: Dice numerator smoothing.
        smooth_dr: Dice denominator smoothing.
    """

    def __init__(
        self,
        dice_weight: float = 1.0,
        ce_weight: float = 1.0,
        density_weight: float = 1.0,
        distance_weight: float = 0.0,
        seg_channels: int = 2,
        label_key: str = "label",
        weight_key: str = "weight",
        density_key: str = "density",
        distance_key: str = "distance",
        has_mask_key: str = "has_mask",
        has_centroids_key: str = "has_centroids",
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
    ) -> None:
        super().__init__()
        if min(dice_weight, ce_weight, density_weight, distance_weight) < 0:
            raise ValueError("loss term weights must not be negative.")
        self.dice_weight = dice_weight
        self.ce_weight = ce_weight
        self.density_weight = density_weight
        self.distance_weight = distance_weight
        self.seg_channels = seg_channels
        self.label_key = label_key
        self.weight_key = weight_key
        self.density_key = density_key
        self.distance_key = distance_key
        self.has_mask_key = has_mask_key
        self.has_centroids_key = has_centroids_key
        self.dice = DiceLoss(
            include_background=True,
            to_onehot_y=True,
            softmax=True,
            reduction="none",
            batch=False,
            smooth_nr=smooth_nr,
            smooth_dr=smooth_dr,
        )

    @staticmethod
    def _flags(target: Mapping[str, torch.Tensor], key: str, reference: torch.Tensor) -> torch.Tensor:
        """``(B,)`` availability flags of ``target[key]``, all ones when the key is absent."""
        batch_size = reference.shape[0]
        flags = target.get(key)
        if flags is None:
            return torch.ones(batch_size, dtype=reference.dtype, device=reference.device)
        flags = torch.as_tensor(flags, dtype=reference.dtype, device=reference.device).reshape(-1)
        if flags.numel() != batch_size:
            raise ValueError(f"{key!r} must hold one flag per sample ({batch_size}), got {flags.numel()}.")
        return flags

    @staticmethod
    def _masked_mean(per_sample: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
        return (per_sample * flags).sum() / flags.sum().clamp_min(1.0)

    @staticmethod
    def _checked(value: torch.Tensor, key: str, input: torch.Tensor) -> torch.Tensor:
        """``value`` if it is ``(B, 1, *spatial)`` of ``input``, else a clear ``ValueError``."""
        expected = (input.shape[0], 1, *input.shape[2:])
        if tuple(value.shape) != expected:
            raise ValueError(f"target[{key!r}] must have shape {expected}, got {tuple(value.shape)}.")
        return value

    def _required(self, target: Mapping[str, torch.Tensor], key: str, term: str, input: torch.Tensor) -> torch.Tensor:
        if target.get(key) is None:
            raise ValueError(
                f"the {term} term needs target[{key!r}], which is missing (set its weight to 0 to skip it)."
            )
        return self._checked(target[key], key, input)

    def components(self, input: torch.Tensor, target: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The unweighted terms ``{"dice", "ce", "density", "distance"}`` (each a scalar; a term with weight 0 is 0).

        Args:
            input: ``(B, seg_channels + 1, [D,] H, W)`` network output (``seg_channels + 2`` with the distance term).
            target: mapping with the keys named in the constructor.
        """
        if not isinstance(target, Mapping):
            raise ValueError(
                "SegDetLoss needs a mapping target (label, weight, density and flags), "
                f"got {type(target).__name__}; see cellbundles.engines.PrepareBatchTargetDict."
            )
        with_distance = self.distance_weight > 0
        channels = self.seg_channels + 1 + int(with_distance)
        if input.ndim < 3 or input.shape[1] != channels:
            raise ValueError(f"expected input (B, {channels}, ...), got shape {tuple(input.shape)}.")
        seg_logits, density, *distance = split_segdet_output(input, self.seg_channels, 1, with_distance)
        zero = input.new_zeros(())
        terms = {"dice": zero, "ce": zero, "density": zero, "distance": zero}

        if self.dice_weight > 0 or self.ce_weight > 0:
            labels = self._required(target, self.label_key, "segmentation", input)
            has_mask = self._flags(target, self.has_mask_key, input)
            if self.dice_weight > 0:
                per_sample = self.dice(seg_logits, labels).reshape(input.shape[0], -1).mean(dim=1)
                terms["dice"] = self._masked_mean(per_sample, has_mask)
            if self.ce_weight > 0:
                cross_entropy = F.cross_entropy(seg_logits, labels[:, 0].long(), reduction="none")
                weights = target.get(self.weight_key)
                if weights is not None:
                    cross_entropy = cross_entropy * self._checked(weights, self.weight_key, input)[:, 0]
                terms["ce"] = self._masked_mean(cross_entropy.reshape(input.shape[0], -1).mean(dim=1), has_mask)

        if self.density_weight > 0:
            density_target = self._required(target, self.density_key, "density", input)
            has_centroids = self._flags(target, self.has_centroids_key, input)
            per_sample = (density - density_target).abs().reshape(input.shape[0], -1).mean(dim=1)
            terms["density"] = self._masked_mean(per_sample, has_centroids)

        if with_distance:
            distance_logit = distance[0]
            distance_target = self._required(target, self.distance_key, "distance", input).to(distance_logit)
            bce = F.binary_cross_entropy_with_logits(distance_logit, distance_target, reduction="none")
            per_sample = bce.reshape(input.shape[0], -1).mean(dim=1)
            terms["distance"] = self._masked_mean(per_sample, self._flags(target, self.has_mask_key, input))
        return terms

    def forward(self, input: torch.Tensor, target: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Weighted sum of :meth:`components` (a scalar)."""
        terms = self.components(input, target)
        return (
            self.dice_weight * terms["dice"]
            + self.ce_weight * terms["ce"]
            + self.density_weight * terms["density"]
            + self.distance_weight * terms["distance"]
        )
