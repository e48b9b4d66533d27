"""Input normalisation of the 2D semantic segmentation bundles: grey, RGB or RGBA images to one channel in [0, 1].

DSB2018 mixes all three kinds of image; :class:`ToSingleChannel` gives every network the same input.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from monai.config import DtypeLike, KeysCollection, NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from monai.utils import TransformBackends, convert_to_dst_type, convert_to_numpy

from .utils import describe

__all__ = ["INVERT_MODES", "ToSingleChannel", "ToSingleChannelD", "ToSingleChannelDict", "ToSingleChanneld"]

INVERT_MODES = ("never", "always", "auto")
"""Values of ``invert`` in :class:`ToSingleChannel`."""

_COLOUR_SPREAD = 0.05
"""Mean spread between colour channels, relative to the scaled range, above which an image is colour."""


class ToSingleChannel(Transform):
    """One-channel image in [0, 1] from a grey, RGB or RGBA channel-first image.

    Steps: drop the alpha channel of RGBA images (DSB2018 stores every image as RGBA with alpha
    255); average the colour channels (unweighted, so that a stain rendered in any one colour, e.g.
    blue DAPI, keeps its full contrast, and grey images stored as RGB come back unchanged); scale
    the ``lower`` and ``upper`` intensity percentiles to 0 and 1 and clip; optionally invert.

    Inversion: neither seed 002 (which feeds the RGB image to its network) nor seed 003 inverts
    brightfield or stained-tissue images, where nuclei are darker than the background, so the
    default ``invert="never"`` keeps their behaviour. ``"auto"`` inverts the images that look like
    brightfield, so that one-channel models trained mostly on fluorescence see bright nuclei on a
    dark background everywhere: colour images (mean spread between the colour channels above 5 % of
    the scaled range: stained tissue, as every colour image of DSB2018 is) and grey images whose
    median after scaling is above 0.5 (a bright background). On the vendored DSB2018 samples this
    inverts all brightfield and stained images and no fluorescence image; a colour *fluorescence*
    composite would be inverted wrongly, use ``"never"`` for such data. ``"always"`` inverts every image.

    Args:
        lower: lower intensity percentile, mapped to 0 (1 and 99.8 are the usual choice of
            StarDist / CSBDeep percentile normalisation; the papers do not state theirs).
        upper: upper intensity percentile, mapped to 1.
        invert: ``"never"``, ``"auto"`` or ``"always"``, see above.
        dtype: output dtype.
    """

    backend = [TransformBackends.NUMPY]

    def __init__(
        self, lower: float = 1.0, upper: float = 99.8, invert: str = "never", dtype: DtypeLike = np.float32
    ) -> None:
        if not 0.0 <= lower < upper <= 100.0:
            raise ValueError(f"percentiles must satisfy 0 <= lower < upper <= 100, got {lower} and {upper}.")
        if invert not in INVERT_MODES:
            raise ValueError(f"invert must be one of {INVERT_MODES}, got {invert!r}.")
        self.lower = lower
        self.upper = upper
        self.invert = invert
        self.dtype = dtype

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        """
        Args:
            img: ``(C, [D,] H, W)`` image with ``C`` 1 (grey), 3 (RGB) or 4 (RGBA).

        Returns:
            ``(1, [D,] H, W)`` image in [0, 1], of the type of ``img``.
        """
        name = describe(img, "image")
        if img.ndim < 3 or img.shape[0] not in (1, 3, 4):
            raise ValueError(
                f"{name} must be channel-first with 1 (grey), 3 (RGB) or 4 (RGBA) channels, "
                f"got shape {tuple(img.shape)}."
            )
        array = convert_to_numpy(img, dtype=np.float32)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} contains NaN or Inf.")
        colours = array[:3]
        grey = colours.mean(axis=0, keepdims=True)
        low, high = np.percentile(grey, (self.lower, self.upper))
        value_range = float(high - low)
        if value_range > 0:
            scaled = np.clip((grey - low) / value_range, 0.0, 1.0)
        else:
            scaled = np.zeros_like(grey)
        if self._inverts(colours, scaled, value_range):
            scaled = 1.0 - scaled
        return convert_to_dst_type(scaled, img, dtype=self.dtype)[0]

    def _inverts(self, colours: np.ndarray, scaled: np.ndarray, value_range: float) -> bool:
        """Whether to invert, from ``invert`` and (``"auto"``) the colour spread and median brightness."""
        if self.invert != "auto":
            return self.invert == "always"
        if len(colours) > 1 and value_range > 0:
            spread = float(np.mean(colours.max(axis=0) - colours.min(axis=0))) / value_range
            if spread > _COLOUR_SPREAD:
                return True
        return bool(np.median(scaled) > 0.5)


class ToSingleChanneld(MapTransform):
    """Dictionary version of :class:`ToSingleChannel` (in place).

    Args:
        keys: keys of the images.
        lower: lower intensity percentile, mapped to 0.
        upper: upper intensity percentile, mapped to 1.
        invert: ``"never"``, ``"auto"`` or ``"always"``.
        dtype: output dtype.
        allow_missing_keys: skip missing keys.
    """

    backend = ToSingleChannel.backend

    def __init__(
        self,
        keys: KeysCollection = "image",
        lower: float = 1.0,
        upper: float = 99.8,
        invert: str = "never",
        dtype: DtypeLike = np.float32,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.converter = ToSingleChannel(lower, upper, invert, dtype)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.converter(d[key])
        return d


ToSingleChannelD = ToSingleChannelDict = ToSingleChanneld
