"""MONAI Label inference of a cellbundles bundle, with the label written on the image's own grid.

MONAI Label 0.8.5's stock writer hands the prediction to ITK, which expects MONAI's (X, Y[, Z]) arrays;
cellbundles' readers give (Y, X) / (Z, Y, X), so the stock label comes back transposed (2D) or with its
axes reversed (3D), and without a voxel size. :class:`CellBundleInferTask` writes the bundle's own
``pred`` instead, with :func:`cellbundles.io.write_image`, in the image's format and with its voxel size.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
from monailabel.tasks.infer.bundle import BundleInferTask

from cellbundles.io import image_format, read_spacing, write_image

__all__ = ["LABEL_KIND", "CellBundleInferTask", "instance_label_array", "label_suffix", "monai_label_centroids"]

# what every cellbundles label file holds; MONAI Label's label names map a name to one value, so the
# nuclei are announced as "nucleus": 1 and the kind says that every value > 0 is one nucleus
LABEL_KIND = "instances: 0 is background, every other value one nucleus"
_SUFFIX_OF_FORMAT = {"tiff": ".tif", "nifti": ".nii.gz", "png": ".png"}


def label_suffix(image_path: str | os.PathLike) -> str:
    """Suffix of the label file of ``image_path``: its own format (``.tif``, ``.nii.gz`` or ``.png``)."""
    return _SUFFIX_OF_FORMAT[image_format(image_path)]


def instance_label_array(pred: Any, image_path: str | os.PathLike, spatial_dims: int) -> np.ndarray:
    """The ``(Y, X)`` / ``(Z, Y, X)`` integer label of a bundle's ``pred`` (channel axes of size 1 dropped).

    Raises:
        ValueError: naming ``image_path`` when ``pred`` does not have ``spatial_dims`` axes after that.
    """
    array = np.asarray(pred.detach().cpu() if hasattr(pred, "detach") else pred)
    while array.ndim > spatial_dims and array.shape[0] == 1:
        array = array[0]
    if array.ndim != spatial_dims:
        raise ValueError(f"{image_path}: the bundle returned a label of shape {array.shape}, not {spatial_dims}D.")
    return array.astype(np.uint16 if array.max(initial=0) < 2**16 else np.uint32)


def monai_label_centroids(points: Any) -> list[dict[str, list[float]]]:
    """``(M, D)`` centroids in array order (``y, x`` / ``z, y, x``) as MONAI Label's result lists them:
    ``[{"nucleus_1": [x, y(, z)]}, ...]``."""
    array = np.asarray(points.detach().cpu() if hasattr(points, "detach") else points, dtype=float)
    return [{f"nucleus_{index + 1}": point[::-1].tolist()} for index, point in enumerate(array)]


class CellBundleInferTask(BundleInferTask):
    """MONAI Label ``BundleInferTask`` of a cellbundles bundle that writes labels on the image's grid.

    The bundles' ``postprocessing`` already returns ``pred`` (instance labels) on the input grid, so
    MONAI Label's ``Restored`` step is not appended; the label file has the image's format (PNG labels
    of PNG images, NIfTI of NIfTI, TIFF otherwise) and voxel size. The result JSON carries the label
    kind and the number of nuclei; centroids a bundle returns as an array (``data["centroids"]``) are
    handed to MONAI Label as its viewers expect them (:func:`monai_label_centroids`).

    Args:
        path: bundle folder.
        conf: MONAI Label app configuration.
        kwargs: further ``BundleInferTask`` arguments.
    """

    def __init__(self, path: str, conf: dict[str, str], **kwargs: Any) -> None:
        super().__init__(path, conf, add_post_restore=False, **kwargs)
        if self.is_valid():
            self.labels = {"nucleus": 1}
            self._config["label_kind"] = LABEL_KIND

    def run_pre_transforms(self, data: dict[str, Any], transforms: Any) -> dict[str, Any]:
        """MONAI Label's transforms without its ``image_path`` entry: MONAI's ``Spacingd`` takes every
        ``image_*`` entry of a NIfTI image for a meta dictionary and fails on the string."""
        image_path = data.pop("image_path", None)
        data = super().run_pre_transforms(data, transforms)
        if image_path is not None:
            data["image_path"] = image_path
        return data

    def writer(self, data: dict[str, Any], extension: str | None = None, dtype: Any = None) -> tuple[str, dict]:
        """Write ``data["pred"]`` to a temporary label file on the grid of ``data["image_path"]``, with its voxel size.

        Returns:
            the label file and the result JSON (the bundle's ``result`` entries, the label kind and the number of nuclei).
        """
        image_path = data["image_path"]
        label = instance_label_array(data[self.output_label_key], image_path, self.dimension)
        spacing = read_spacing(image_path)
        handle, label_file = tempfile.mkstemp(suffix=extension or label_suffix(image_path))
        os.close(handle)
        write_image(label_file, label, spacing if spacing is not None and len(spacing) == label.ndim else None)
        if "centroids" in data and not isinstance(data["centroids"], (list, tuple)):
            data["centroids"] = monai_label_centroids(data["centroids"])
        result = dict(data.get(self.output_json_key, {}))
        result.update(label_kind=LABEL_KIND, nuclei=int(np.count_nonzero(np.unique(label))))
        return label_file, result
