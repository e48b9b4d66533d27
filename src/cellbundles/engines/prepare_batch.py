"""Batch preparation for trainers whose loss needs several targets (e.g. ``SegDetLoss``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from monai.engines import PrepareBatch
from monai.utils import ensure_tuple

__all__ = ["PrepareBatchTargetDict"]


class PrepareBatchTargetDict(PrepareBatch):
    """``(image, {key: batch[key]})``: the network input and a dictionary of targets.

    MONAI's ``SupervisedTrainer`` calls ``loss_function(prediction, targets)`` with whatever the
    batch preparation returns as targets; this gives losses such as
    :class:`cellbundles.losses.SegDetLoss` the labels, weight maps, densities and availability
    flags of the batch at once. Target keys absent from a batch are left out.

    Args:
        target_keys: batch keys to pass as targets.
        image_key: batch key of the network input.
    """

    def __init__(
        self,
        target_keys: Sequence[str] = ("label", "weight", "density", "has_mask", "has_centroids"),
        image_key: str = "image",
    ) -> None:
        self.target_keys = ensure_tuple(target_keys)
        self.image_key = image_key

    def __call__(
        self,
        batchdata: Mapping[str, Any],
        device: str | torch.device | None = None,
        non_blocking: bool = False,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Move the image and the targets present in ``batchdata`` to ``device``."""

        def to_device(value: torch.Tensor) -> torch.Tensor:
            return torch.as_tensor(value).to(device=device, non_blocking=non_blocking, **kwargs)

        targets = {key: to_device(batchdata[key]) for key in self.target_keys if batchdata.get(key) is not None}
        return to_device(batchdata[self.image_key]), targets
