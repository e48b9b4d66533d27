"""Per-sample annotation availability flags and zero placeholders for missing annotations.

Seed 000 (section 2.2) evaluates each loss term only for the annotations a sample has: most
training volumes have centroids, few have masks. These flags let :class:`cellbundles.losses.SegDetLoss`
mask its terms per sample while every sample of a batch keeps the same keys and shapes.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import DtypeLike, NdarrayOrTensor
from monai.transforms import MapTransform
from monai.utils import convert_to_dst_type, ensure_tuple

from .utils import describe

__all__ = ["AnnotationAvailabilityD", "AnnotationAvailabilityDict", "AnnotationAvailabilityd"]


class AnnotationAvailabilityd(MapTransform):
    """Set an availability flag per annotation group and fill the group's missing keys with zeros.

    For every ``flag_key -> keys`` entry of ``annotations``, ``data[flag_key]`` becomes
    ``torch.tensor([1.0])`` when all ``keys`` are present (and not None) and ``torch.tensor([0.0])``
    when none is; each missing key then receives a zero placeholder of shape
    ``(placeholder_channels, *spatial shape of data[ref_key])`` with the reference's type and
    metadata, so that spatial transforms, collation and the loss treat every sample alike.
    After batching the flags have shape ``(B, 1)``.

    Run it after the transforms that derive targets from annotations (density from centroids,
    border weights from labels, both with ``allow_missing_keys=True``) and before the spatial
    transforms. Example for seed 000:
    ``annotations={"has_mask": ("label", "weight"), "has_centroids": ("density",)}``.

    Args:
        annotations: flag key -> data key(s) that make up that annotation.
        ref_key: key of the channel-first image whose spatial shape and metadata the placeholders take.
        placeholder_channels: channel count of the placeholders, one int for all or a mapping data key -> int.
        dtype: dtype of the placeholders.

    Raises:
        ValueError: a group is only partly present (e.g. labels without their weight map), which
            would otherwise silently drop an annotation.
    """

    def __init__(
        self,
        annotations: Mapping[str, Sequence[str] | str],
        ref_key: str = "image",
        placeholder_channels: int | Mapping[str, int] = 1,
        dtype: DtypeLike = np.float32,
    ) -> None:
        self.annotations = {flag: ensure_tuple(keys) for flag, keys in annotations.items()}
        if not self.annotations or not all(self.annotations.values()):
            raise ValueError(f"annotations must map each flag key to at least one data key, got {annotations}.")
        super().__init__([key for keys in self.annotations.values() for key in keys], allow_missing_keys=True)
        self.ref_key = ref_key
        self.placeholder_channels = placeholder_channels
        self.dtype = dtype

    def _channels(self, key: str) -> int:
        if isinstance(self.placeholder_channels, Mapping):
            return int(self.placeholder_channels.get(key, 1))
        return int(self.placeholder_channels)

    def _placeholder(self, key: str, reference: NdarrayOrTensor) -> NdarrayOrTensor:
        zeros = np.zeros((self._channels(key), *reference.shape[1:]), dtype=np.float32)
        return convert_to_dst_type(zeros, reference, dtype=self.dtype)[0]

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        reference = d[self.ref_key]
        for flag, keys in self.annotations.items():
            missing = [key for key in keys if d.get(key) is None]
            if missing and len(missing) != len(keys):
                raise ValueError(
                    f"annotation {flag!r} of {describe(reference, 'the sample')} is only partly present: "
                    f"{missing} missing, {[k for k in keys if k not in missing]} present."
                )
            d[flag] = torch.tensor([0.0 if missing else 1.0], dtype=torch.float32)
            for key in missing:
                d[key] = self._placeholder(key, reference)
        return d


AnnotationAvailabilityD = AnnotationAvailabilityDict = AnnotationAvailabilityd
