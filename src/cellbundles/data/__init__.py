"""Datasets: canonical layout, MONAI datalists, dataset manifests and downloads (docs/design.md, "Data layout")."""

from __future__ import annotations

from cellbundles.data.convert import CONVERTERS, decode_rle, run_converter
from cellbundles.data.datalist import DATALIST_SECTIONS, build_datalist, load_datalist, write_datalist
from cellbundles.data.fetch import download, fetch_dataset, file_sha256, safe_extract
from cellbundles.data.layout import CENTROIDS_DIR, IMAGES_DIR, LABELS_DIR, find_samples, list_inputs
from cellbundles.data.sampling import crop_sampling_weights
from cellbundles.data.manifest import MANIFESTS_ENV, default_manifest_dir, list_manifests, load_manifest, validate_manifest

__all__ = [
    "CENTROIDS_DIR",
    "CONVERTERS",
    "DATALIST_SECTIONS",
    "IMAGES_DIR",
    "LABELS_DIR",
    "MANIFESTS_ENV",
    "build_datalist",
    "crop_sampling_weights",
    "decode_rle",
    "default_manifest_dir",
    "download",
    "fetch_dataset",
    "file_sha256",
    "find_samples",
    "list_inputs",
    "list_manifests",
    "load_datalist",
    "load_manifest",
    "run_converter",
    "safe_extract",
    "validate_manifest",
    "write_datalist",
]
