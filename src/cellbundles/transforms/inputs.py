"""The files a bundle reads: strict loading, label checks, and a report of what was read.

- :class:`StrictLoadImaged`: ``LoadImaged`` with :class:`cellbundles.io.TiffReader` alone, refusing the
  dimensions and channels a bundle does not accept, with the reader's own message naming the file.
- :class:`CheckLabelsd`: instance labels that are whole numbers >= 0 and cover the voxels of their image.
- :class:`ReportInputd`: one log line per input (shape, pixel type, voxel size), and a warning for a
  constant image or one smaller than the network's window.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import LoadImaged, MapTransform
from monai.utils import convert_to_numpy

from cellbundles.io import validate_labels, validate_pair
from cellbundles.io.reader import TiffReader

from .utils import is_constant, spatial_array

__all__ = [
    "CheckLabelsd",
    "CheckLabelsD",
    "CheckLabelsDict",
    "ReportInputd",
    "ReportInputD",
    "ReportInputDict",
    "StrictLoadImaged",
    "StrictLoadImageD",
    "StrictLoadImageDict",
]

logger = logging.getLogger(__name__)


def _source(image: object) -> str:
    return str(image.meta.get("filename_or_obj", "<array>")) if isinstance(image, MetaTensor) else "<array>"


def _size(shape: Sequence[int]) -> str:
    return " x ".join(str(int(size)) for size in shape)


class StrictLoadImaged(LoadImaged):
    """``LoadImaged`` that reads every file with :class:`cellbundles.io.TiffReader` only.

    MONAI's ``LoadImage`` falls back to its other readers when the given reader raises: the reader's
    message ("truncated", "2 channels", ...) is lost behind "cannot find a suitable reader", and PIL
    reads the first plane of a 5D TIFF as if it were a 2D image. Here the reader's ``ValueError``
    (``"<file>: <problem>"``) stops the run.

    Args:
        keys: keys of the file names.
        spatial_dims: 2 or 3 spatial axes to accept; None accepts both.
        color: whether RGB(A) files are accepted.
        min_size: the fewest voxels accepted along each spatial axis (a single pixel holds no nucleus).
        ensure_channel_first, image_only, allow_missing_keys, kwargs: as ``LoadImaged``.
    """

    def __init__(
        self,
        keys: KeysCollection,
        spatial_dims: int | None = None,
        color: bool = True,
        min_size: int = 2,
        ensure_channel_first: bool = True,
        image_only: bool = True,
        allow_missing_keys: bool = False,
        **kwargs,
    ) -> None:
        self.image_reader = TiffReader(spatial_dims=spatial_dims, color=color, min_size=min_size)
        super().__init__(
            keys,
            reader=self.image_reader,
            ensure_channel_first=ensure_channel_first,
            image_only=image_only,
            allow_missing_keys=allow_missing_keys,
            **kwargs,
        )

    def __call__(self, data: Mapping[Hashable, object], reader: TiffReader | None = None) -> dict:
        return super().__call__(data, reader or self.image_reader)


class CheckLabelsd(MapTransform):
    """Stop on a label file that is not instance labels of its image (:func:`cellbundles.io.validate_labels`
    and :func:`cellbundles.io.validate_pair`), with a ``ValueError`` naming both files.

    Args:
        keys: keys of one-channel ``(1, [D,] H, W)`` labels, as loaded.
        image_key: key of the ``(C, [D,] H, W)`` image the labels annotate.
        allow_missing_keys: skip missing label keys (e.g. images without labels).
    """

    def __init__(self, keys: KeysCollection, image_key: str = "image", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.image_key = image_key

    def __call__(self, data: Mapping[Hashable, object]) -> Mapping[Hashable, object]:
        image = data[self.image_key]
        for key in self.key_iterator(data):
            labels = spatial_array(data[key], key)
            validate_labels(labels, _source(data[key]))
            validate_pair(convert_to_numpy(image)[0], labels, _source(image), _source(data[key]))
        return data


class ReportInputd(MapTransform):
    """Log what was read, and warn where the result may not mean much. Put it last in the preprocessing.

    Logs ``"<file>: <shape> voxels of <dtype>, voxel size <spacing> um"`` (the file's shape and pixel
    type, as the reader's metadata states them) and warns, naming the file, when

    - every voxel holds the same value (a blank or constant image holds no nucleus to find);
    - the image at the network's input is smaller than ``roi_size`` along an axis: the inferer pads it;

    and logs the padded size when a size is not a multiple of ``size_divisible`` (a whole-image network
    such as Mask R-CNN pads its input to a multiple of its coarsest stride).

    Args:
        keys: keys of channel-first MetaTensors loaded by :class:`StrictLoadImaged`.
        roi_size: the network's window (the sliding-window inferer's ``roi_size``), array order.
        size_divisible: the network pads every spatial size up to a multiple of this; 1: no padding.
    """

    def __init__(self, keys: KeysCollection, roi_size: Sequence[int], size_divisible: int = 1) -> None:
        super().__init__(keys)
        self.roi_size = tuple(int(size) for size in roi_size)
        self.size_divisible = int(size_divisible)

    def __call__(self, data: Mapping[Hashable, object]) -> Mapping[Hashable, object]:
        for key in self.key_iterator(data):
            image = data[key]
            meta = image.meta if isinstance(image, MetaTensor) else {}
            source = _source(image)
            shape = meta.get("spatial_shape", image.shape[1:])
            sizes = " x ".join(f"{float(size):g}" for size in meta.get("spacing", ()))
            spacing = f"voxel size {sizes} um" if meta.get("spacing_known", False) else "no voxel size"
            logger.info(f"{source}: {_size(shape)} voxels of {meta.get('source_dtype', image.dtype)}, {spacing}.")
            if is_constant(image):
                warnings.warn(f"{source}: constant image (every voxel has the same value): no nucleus to find.")
            spatial = tuple(image.shape[1:])
            if any(size < window for size, window in zip(spatial, self.roi_size)):
                warnings.warn(
                    f"{source}: {_size(spatial)} voxels at the network's input, smaller than the network's "
                    f"{_size(self.roi_size)} window: padded to the window."
                )
            padded = tuple(-(-size // self.size_divisible) * self.size_divisible for size in spatial)
            if padded != spatial:
                logger.info(
                    f"{source}: padded from {_size(spatial)} to {_size(padded)} voxels at the network's input "
                    f"(a multiple of {self.size_divisible})."
                )
        return data


StrictLoadImageD = StrictLoadImageDict = StrictLoadImaged
CheckLabelsD = CheckLabelsDict = CheckLabelsd
ReportInputD = ReportInputDict = ReportInputd
