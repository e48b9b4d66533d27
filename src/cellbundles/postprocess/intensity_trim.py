"""Instances trimmed to the part of the image where their own nucleus is bright (relative to its mean brightness)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from cellbundles.utils import to_numpy

__all__ = ["trim_to_intensity"]


def trim_to_intensity(
    labels: np.ndarray,
    image: np.ndarray,
    fraction: float = 0.5,
    sigma_voxels: float = 1.0,
    background_percentile: float = 5.0,
) -> np.ndarray:
    """Remove from every instance the voxels dimmer than ``background + fraction * (its mean - background)``.

    A network mask (and the growth that gives back the seam between touching nuclei) can spread past the
    blurred edge of an isolated nucleus. The cut is relative to each instance's own mean brightness, so dim
    and bright nuclei are treated alike; the further an instance spreads into the dark, the lower its mean,
    so the cut removes part of the excess, not all of it (labels one voxel too wide on a blurred ball lose
    about half of their excess at ``fraction`` 0.5). The image is smoothed first (Gaussian,
    ``sigma_voxels``) so that noise does not punch holes; holes an instance still gets are filled from its
    own voxels, and an instance is never emptied (when none of its voxels passes, it stays whole).

    Args:
        labels: ``([D,] H, W)`` instance labels, 0 background.
        image: intensities on the same grid.
        fraction: 0 changes nothing; 1 keeps only voxels at least as bright as the instance's mean.
        sigma_voxels: smoothing of the image before the comparison, in voxels.
        background_percentile: percentile of the smoothed image taken as the background level.

    Returns:
        int32 labels of the shape of ``labels``, each instance a subset of its input voxels.
    """
    labels, image = to_numpy(labels), to_numpy(image).astype(np.float32)
    if labels.shape != image.shape:
        raise ValueError(f"labels {labels.shape} and image {image.shape} must have the same shape.")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}.")
    labels = labels.astype(np.int32)
    if fraction == 0 or not labels.any():
        return labels
    smoothed = ndimage.gaussian_filter(image, sigma_voxels, mode="nearest") if sigma_voxels > 0 else image
    background = float(np.percentile(smoothed, background_percentile))
    trimmed = np.zeros_like(labels)
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        instance = labels[box] == index
        level = background + fraction * (float(smoothed[box][instance].mean()) - background)
        kept = ndimage.binary_fill_holes(instance & (smoothed[box] >= level)) & instance
        trimmed[box][kept if kept.any() else instance] = index
    return trimmed
