"""MONAI Label integration: infer tasks that write labels on the image's own grid."""

from .infer import LABEL_KIND, CellBundleInferTask, instance_label_array, label_suffix, monai_label_centroids

__all__ = ["LABEL_KIND", "CellBundleInferTask", "instance_label_array", "label_suffix", "monai_label_centroids"]
