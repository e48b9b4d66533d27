"""A MONAI image reader for microscopy files that keeps the physical voxel size.

MONAI's built-in readers either ignore the TIFF voxel size (``PILReader``, ``ITKReader`` on ImageJ
files) or reverse the axis order (``NibabelReader``, ``ITKReader``). :class:`TiffReader` reads through
:func:`cellbundles.io.decode_image`, so arrays keep the (Z, Y, X) / (Y, X) order of the rest of
cellbundles and the affine is ``diag(spacing)`` in that order: ``MetaTensor.pixdim == spacing``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from monai.config import PathLike
from monai.data import ImageReader
from monai.utils import MetaKeys, ensure_tuple

from cellbundles.io.decoded import DecodedImage
from cellbundles.io.image import decode_image, is_supported_image
from cellbundles.io.validation import validate_image

__all__ = ["TiffReader"]


class TiffReader(ImageReader):
    """Read TIFF / ImageJ / OME-TIFF stacks (and NIfTI, PNG) with their spacing into ``LoadImage(d)``.

    The array is (Z, Y, X) or (Y, X) (``original_channel_dim="no_channel"``), or (..., C) for RGB(A)
    images (``original_channel_dim=-1``); use ``EnsureChannelFirst(d)`` or ``ensure_channel_first=True``
    to get (C, [Z,] Y, X). Several files given for one key are stacked as channels (axis 0) and must
    share their shape and spacing. The metadata holds:

    - ``affine`` / ``original_affine``: ``diag(spacing + [1])`` in array order, so ``pixdim`` is the
      spacing in micrometres, (z, y, x) / (y, x);
    - ``spacing``: the same values as an array; ``spacing_known``: False when the file states no
      spacing, in which case the spacing is 1 per axis;
    - ``source_dtype``: the pixel type in the file (e.g. ``"float64"``; ``LoadImage`` casts to float32);
    - ``spatial_shape``, ``original_channel_dim``, ``filename_or_obj``.

    Args:
        spatial_dims: 2 or 3 to accept only images with that many spatial axes; None accepts both.
        color: whether RGB(A) images are accepted; False accepts single-channel images only.
        min_size: the fewest voxels accepted along each spatial axis.

    The reader accepts every suffix of :data:`cellbundles.io.SUPPORTED_SUFFIXES`, so that a bundle
    reading TIFF volumes and PNG images gets the same axis convention for both.

    Example::

        LoadImaged(keys=["image", "label"], reader=TiffReader(), ensure_channel_first=True)

    and in a bundle config ``"reader": "$cellbundles.io.TiffReader()"`` (with ``"$import cellbundles"``
    in ``imports``) or ``"reader": {"_target_": "cellbundles.io.TiffReader"}``.
    """

    def __init__(self, spatial_dims: int | None = None, color: bool = True, min_size: int = 1) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.color = color
        self.min_size = min_size

    def verify_suffix(self, filename: Sequence[PathLike] | PathLike) -> bool:
        """Whether every file name has a suffix of :data:`cellbundles.io.SUPPORTED_SUFFIXES`."""
        return all(is_supported_image(name) for name in ensure_tuple(filename))

    def read(self, data: Sequence[PathLike] | PathLike, **kwargs) -> Sequence[DecodedImage] | DecodedImage:
        """Decode one file, or several (returned as a list), with :func:`cellbundles.io.decode_image`.

        Raises:
            FileNotFoundError / ValueError: as :func:`cellbundles.io.read_image`, naming the file; ValueError
                also for an image that the reader's ``spatial_dims``, ``color`` or ``min_size`` exclude.
        """
        filenames = ensure_tuple(data)
        decoded = [self._decode(name) for name in filenames]
        return decoded if len(filenames) > 1 else decoded[0]

    def _decode(self, name: PathLike) -> DecodedImage:
        decoded = decode_image(name)
        if decoded.rgb and not self.color:
            raise ValueError(
                f"{name}: expected a single-channel (grey) image, got a colour (RGB(A)) image of shape "
                f"{tuple(decoded.array.shape)}."
            )
        validate_image(decoded.array, name, spatial_dims=self.spatial_dims, rgb=decoded.rgb, min_size=self.min_size)
        return decoded

    def get_data(self, img: Sequence[DecodedImage] | DecodedImage) -> tuple[np.ndarray, dict]:
        """Return the pixel array and the MONAI metadata of decoded image(s) (see the class docstring)."""
        images = [img] if isinstance(img, DecodedImage) else list(img)
        first = images[0]
        n_spatial = first.array.ndim - 1 if first.rgb else first.array.ndim
        for other in images[1:]:
            if other.rgb or first.rgb or other.array.shape != first.array.shape or other.spacing != first.spacing:
                raise ValueError(
                    "files stacked as channels must be single-channel with the same shape and spacing, got "
                    f"{[(image.array.shape, image.spacing, image.rgb) for image in images]}."
                )
        spacing = first.spacing if first.spacing is not None else (1.0,) * n_spatial
        affine = np.diag([*spacing, 1.0])
        if len(images) > 1:
            array, channel_dim = np.stack([image.array for image in images], axis=0), 0
        else:
            array, channel_dim = first.array, (-1 if first.rgb else "no_channel")
        spatial_shape = first.array.shape[:n_spatial]
        meta = {
            MetaKeys.AFFINE: affine,
            MetaKeys.ORIGINAL_AFFINE: affine.copy(),
            MetaKeys.SPATIAL_SHAPE: np.asarray(spatial_shape),
            MetaKeys.ORIGINAL_CHANNEL_DIM: channel_dim,
            "spacing": np.asarray(spacing, dtype=np.float64),
            "spacing_known": first.spacing is not None,
            "source_dtype": str(first.array.dtype),
        }
        return array, meta
