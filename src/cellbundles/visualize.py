"""Quick-look pictures of results: projections of images with instance outlines and centroid marks.

Everything here is numpy + scikit-image and returns ``uint8`` RGB arrays ``(H, W, 3)`` that
:func:`cellbundles.io.write_image` saves as PNG, so bundles can write an ``overlay.png`` per input
without a plotting library.
"""

from __future__ import annotations

import numpy as np

__all__ = ["label_colors", "max_projection", "overlay_projection", "to_uint8"]

_OUTLINE_RGB = (255, 220, 0)
_CENTROID_RGB = (255, 0, 255)


def max_projection(volume: np.ndarray) -> np.ndarray:
    """Maximum projection along z of a ``(Z, Y, X)`` volume; a ``(Y, X)`` image is returned as is."""
    volume = np.asarray(volume)
    if volume.ndim not in (2, 3):
        raise ValueError(f"expected a (Y, X) image or a (Z, Y, X) volume, got shape {volume.shape}.")
    return volume.max(axis=0) if volume.ndim == 3 else volume


def to_uint8(image: np.ndarray, percentiles: tuple[float, float] = (1.0, 99.8)) -> np.ndarray:
    """Scale an image to ``uint8`` between two intensity percentiles (clipped)."""
    image = np.asarray(image, dtype=np.float64)
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return np.zeros(image.shape, dtype=np.uint8)
    low, high = np.percentile(finite, percentiles)
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return (np.clip(np.nan_to_num(scaled), 0.0, 1.0) * 255).round().astype(np.uint8)


def label_colors(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Random bright colour per instance id, black background: ``(H, W)`` ids -> ``(H, W, 3)`` uint8."""
    labels = np.asarray(labels)
    palette = np.random.default_rng(seed).integers(64, 256, size=(int(labels.max(initial=0)) + 1, 3))
    palette[0] = 0
    return palette[labels].astype(np.uint8)


def overlay_projection(
    image: np.ndarray, instances: np.ndarray | None = None, centroids: np.ndarray | None = None, marker_radius: int = 2
) -> np.ndarray:
    """Grey maximum projection of ``image`` with instance outlines (yellow) and centroids (magenta).

    Args:
        image: ``(Z, Y, X)`` or ``(Y, X)`` intensities.
        instances: instance labels of the same shape, or None; outlines are drawn from the label
            image's maximum projection (the largest id wins where nuclei overlap in z).
        centroids: ``(N, 3)`` (z, y, x) or ``(N, 2)`` (y, x) voxel coordinates, or None.
        marker_radius: half width in pixels of the square centroid marks.

    Returns:
        ``(Y, X, 3)`` uint8 RGB picture.
    """
    from skimage.segmentation import find_boundaries

    grey = to_uint8(max_projection(image))
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    if instances is not None:
        if np.shape(instances) != np.shape(image):
            raise ValueError(f"instances shape {np.shape(instances)} differs from image shape {np.shape(image)}.")
        outline = find_boundaries(max_projection(instances), mode="inner")
        rgb[outline] = _OUTLINE_RGB
    if centroids is not None and len(centroids):
        height, width = grey.shape
        points = np.rint(np.asarray(centroids, dtype=np.float64)[:, -2:]).astype(int)
        for dy in range(-marker_radius, marker_radius + 1):
            for dx in range(-marker_radius, marker_radius + 1):
                y = np.clip(points[:, 0] + dy, 0, height - 1)
                x = np.clip(points[:, 1] + dx, 0, width - 1)
                rgb[y, x] = _CENTROID_RGB
    return rgb
