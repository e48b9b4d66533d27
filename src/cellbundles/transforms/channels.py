"""Multi-channel 2D images stored as planes of one TIFF (seed 004's nucleus + cell stain pairs).

cellbundles' TIFF reader has no channel axis other than colour: a two-channel image is written as a ``(2, H, W)``
stack (:func:`cellbundles.synth.dataset.write_sample`) and read as ``(1, 2, H, W)``. :class:`PlanesToChannelsd`
turns it into a channel-first 2D image and refuses anything else with the file's name.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform
from monai.utils import convert_to_tensor

from .utils import describe

__all__ = ["PlanesToChannelsD", "PlanesToChannelsDict", "PlanesToChannelsd"]


def _drop_plane_axis(affine: object) -> object:
    """``(4, 4)`` affine of a ``(planes, Y, X)`` read -> the ``(3, 3)`` affine of ``(Y, X)``."""
    affine = convert_to_tensor(affine, track_meta=False)
    return affine[1:, 1:] if affine.shape[-1] == 4 else affine


class PlanesToChannelsd(MapTransform):
    """``(1, C, H, W)`` (C planes read as one stack) -> ``(C, H, W)`` with a 2D affine.

    Args:
        keys: keys of the images (read with ``StrictLoadImaged(spatial_dims=None, color=False)``).
        channel_names: one name per expected channel, in stored order (e.g. ``("nucleus", "cell")``): the error
            message lists them.
        allow_missing_keys: as ``MapTransform``.

    Raises:
        ValueError: ``"<file>: ..."`` for a single-channel 2D image or a stack of another number of planes.
    """

    def __init__(
        self, keys: KeysCollection, channel_names: Sequence[str] = ("nucleus", "cell"), allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.channel_names = tuple(channel_names)

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        n_channels = len(self.channel_names)
        for key in self.key_iterator(d):
            image = d[key]
            if image.ndim != 4 or image.shape[0] != 1 or image.shape[1] != n_channels:
                spatial = tuple(image.shape[1:])
                got = "a single-channel 2D image" if len(spatial) == 2 else f"a stack of {spatial[0]} planes"
                raise ValueError(
                    f"{describe(image, key)}: expected a {n_channels}-channel image stored as {n_channels} planes "
                    f"({', '.join(self.channel_names)}), got {got} of shape {spatial}."
                )
            channels = image[0]
            if isinstance(image, MetaTensor):
                meta = dict(image.meta)
                for name in ("affine", "original_affine"):
                    if meta.get(name) is not None:
                        meta[name] = _drop_plane_axis(meta[name])
                meta["spatial_shape"] = np.asarray(channels.shape[1:])
                channels = MetaTensor(channels.as_tensor(), meta=meta)
            d[key] = channels
        return d


PlanesToChannelsD = PlanesToChannelsDict = PlanesToChannelsd
