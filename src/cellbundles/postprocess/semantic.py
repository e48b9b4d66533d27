"""Instance labels from semantic segmentation outputs (seeds 002 and 003), and small-object removal.

A binary network (seed 002's ``ResUNet``, seed 003's U-Net) predicts one foreground mask: instances
are its connected components, so touching nuclei merge, unless they are split at their necks by a
distance-transform watershed (:func:`split_touching`, our addition). A three-class network (seed 003's simple
CNN: background, nucleus interior, border) separates them: the interior components are the seeds
of a watershed over interior + border (:func:`cellbundles.postprocess.watershed_from_markers`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage.morphology import local_maxima, reconstruction
from skimage.segmentation import expand_labels, relabel_sequential

from cellbundles.utils import spacing_array, to_numpy

from .watershed import watershed_from_markers

__all__ = [
    "grow_instances",
    "instances_from_binary",
    "instances_from_three_class",
    "remove_small_instances",
    "split_touching",
]


def _structure(ndim: int, connectivity: int) -> np.ndarray:
    """Connected-component neighbourhood, or a ``ValueError`` for an impossible connectivity."""
    if not 1 <= connectivity <= ndim:
        raise ValueError(f"connectivity must be in [1, {ndim}], got {connectivity}.")
    return ndimage.generate_binary_structure(ndim, connectivity)


def remove_small_instances(labels: np.ndarray, min_size: int, relabel: bool = True) -> np.ndarray:
    """Set the instances with fewer than ``min_size`` pixels (voxels) to background.

    Args:
        labels: ``([D,] H, W)`` integer instance labels, 0 background.
        min_size: smallest size kept; 0 or 1 keeps everything.
        relabel: renumber the remaining instances ``1..N`` in their original order.

    Returns:
        int32 instance labels of the shape of ``labels``.
    """
    labels = to_numpy(labels)
    if not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise ValueError(f"labels must be non-negative integers, got dtype {labels.dtype}.")
    labels = labels.astype(np.int32)
    if min_size > 1 and labels.size:
        too_small = np.bincount(labels.ravel()) < min_size
        too_small[0] = False
        labels[too_small[labels]] = 0
    if relabel:
        labels = relabel_sequential(labels)[0].astype(np.int32)
    return labels


def grow_instances(labels: np.ndarray, foreground: np.ndarray, steps: int, threshold: float = 0.0) -> np.ndarray:
    """Grow every instance by up to ``steps`` pixels (voxels) into the background, never into another instance,
    and only into pixels whose foreground probability exceeds ``threshold``.

    This gives back the seam that a network trained with a background gap between touching nuclei
    (:func:`cellbundles.transforms.contact_pixels`) leaves around them: the seam keeps a low but non-zero
    probability, clear background does not.

    Args:
        labels: ``([D,] H, W)`` integer instance labels, 0 background.
        foreground: foreground probabilities of the same shape.
        steps: growth in pixels (Euclidean, in pixel units); 0 returns the labels unchanged.
        threshold: the probability a background pixel must exceed to be taken.

    Returns:
        instance labels of the shape and dtype of ``labels``.
    """
    labels, foreground = to_numpy(labels), to_numpy(foreground)
    if steps < 0:
        raise ValueError(f"steps must be >= 0 pixels, got {steps}.")
    if labels.shape != foreground.shape:
        raise ValueError(f"labels {labels.shape} and foreground {foreground.shape} must have the same shape.")
    if steps == 0:
        return labels
    into = (labels == 0) & (foreground > threshold)
    return np.where(into, expand_labels(labels, steps), labels).astype(labels.dtype)


def split_touching(
    mask: np.ndarray, h: float = 1.0, sigma: float = 1.0, spacing: Sequence[float] | float | None = None
) -> np.ndarray:
    """Split touching objects of a foreground mask at their necks (distance-transform watershed).

    The Euclidean distance transform of the mask, smoothed by a Gaussian of ``sigma`` pixels, has
    one maximum near the centre of each roundish object and a saddle where two objects touch. Its
    ``h``-maxima (domes rising at least ``h`` above the saddles around them) are the markers, and the
    mask is flooded from them on the negated distance (:func:`watershed_from_markers`). Mask
    components without an ``h``-maximum (objects thinner than about ``2 h`` pixels) keep one label
    each, so no foreground is lost. A larger ``h`` splits less.

    Args:
        mask: ``([D,] H, W)`` boolean foreground.
        h: smallest height of a marker maximum, in pixels (physical units with ``spacing``).
        sigma: Gaussian smoothing of the distance transform in pixels; 0 disables it.
        spacing: pixel spacing per axis for the distance transform; None: pixel units.

    Returns:
        int32 instance labels of the shape of ``mask``, 0 background.
    """
    mask = to_numpy(mask)
    if mask.dtype != bool or mask.ndim not in (2, 3):
        raise ValueError(f"mask must be a boolean 2D or 3D array, got dtype {mask.dtype} and shape {mask.shape}.")
    if h <= 0 or sigma < 0:
        raise ValueError(f"h must be positive and sigma non-negative, got h={h} and sigma={sigma}.")
    distance = ndimage.distance_transform_edt(mask, sampling=spacing_array(spacing, mask.ndim))
    if sigma > 0:
        distance = ndimage.gaussian_filter(distance, sigma)
    components = ndimage.label(mask)[0]
    markers = np.zeros(mask.shape, dtype=np.int32)
    n_markers = 0
    # one connected component at a time: the reconstruction's cost grows faster than the pixel count
    for index, box in enumerate(ndimage.find_objects(components), start=1):
        inside = components[box] == index
        peaks = _h_maxima(np.where(inside, distance[box], 0.0), h) & inside
        peak_labels, count = ndimage.label(peaks)
        markers[box][peaks] = peak_labels[peaks] + n_markers
        n_markers += count
    return watershed_from_markers(mask, markers, spacing, unseeded="label")


def _h_maxima(image: np.ndarray, h: float) -> np.ndarray:
    """Boolean mask of the h-maxima of ``image``: the regional maxima of the reconstruction by dilation
    of ``image - h`` under ``image``, one plateau per dome rising at least ``h`` above its saddles
    (skimage's ``h_maxima`` marks the top pixels instead: two for a dome with twin peaks)."""
    domes = reconstruction(image - h, image, method="dilation")
    return local_maxima(domes, allow_borders=True).astype(bool)


def instances_from_binary(
    prob_or_mask: np.ndarray,
    threshold: float = 0.5,
    min_size: int = 0,
    connectivity: int = 1,
    fill_holes: bool = False,
    split_h: float = 0.0,
    split_sigma: float = 1.0,
    spacing: Sequence[float] | float | None = None,
) -> np.ndarray:
    """Instances as the connected components of a foreground mask, optionally split at their necks.

    Args:
        prob_or_mask: ``([D,] H, W)`` foreground probability, or a boolean mask (no channel axis;
            take the foreground channel of a softmax output).
        threshold: probability threshold, foreground is ``> threshold`` (ignored for a boolean mask).
        min_size: components with fewer pixels are removed (:func:`remove_small_instances`).
        connectivity: 1 (faces: 4-neighbourhood in 2D) up to ``ndim`` (8-neighbourhood in 2D).
        fill_holes: fill the holes of the mask first (a nucleus with a dim, unsegmented centre
            would otherwise be a ring, and split into many pieces).
        split_h: 0: connected components (seeds 002 and 003). Positive: touching objects are split
            by :func:`split_touching` with this ``h`` (``connectivity`` is then unused).
        split_sigma: smoothing of the distance transform for the split.
        spacing: pixel spacing per axis for the split's distance transform (``split_h`` is then in physical
            units); None: pixel units.

    Returns:
        int32 instance labels ``1..N``, 0 background.
    """
    array = to_numpy(prob_or_mask)
    if array.ndim not in (2, 3):
        raise ValueError(f"prob_or_mask must be a 2D or 3D array without channel axis, got shape {array.shape}.")
    if split_h < 0:
        raise ValueError(f"split_h must be >= 0 (0: no split), got {split_h}.")
    mask = array if array.dtype == bool else array > threshold
    structure = _structure(mask.ndim, connectivity)
    if fill_holes:
        mask = ndimage.binary_fill_holes(mask)
    if split_h == 0:
        labels = ndimage.label(mask, structure=structure)[0]
    else:
        labels = split_touching(mask, split_h, split_sigma, spacing)
    return remove_small_instances(labels, min_size)


def instances_from_three_class(
    probs: np.ndarray,
    min_size: int = 0,
    min_seed_size: int = 0,
    connectivity: int = 1,
    unseeded: str = "label",
    spacing: Sequence[float] | float | None = None,
) -> np.ndarray:
    """Instances from background / nucleus interior / border scores by a seeded watershed.

    Every pixel takes its highest-scoring class (channel 0 background, 1 interior, 2 border, the
    classes of :class:`cellbundles.transforms.InstancesToThreeClass`). The connected components of
    the interior class with at least ``min_seed_size`` pixels are the seeds; interior + border is
    the mask, flooded from the seeds on its negated distance transform, so border pixels go to the
    nearest nucleus and touching nuclei stay apart. Mask components without a seed (objects
    predicted as border only) are kept as their own instances (``unseeded="label"``) or dropped
    (``"drop"``). Finally instances under ``min_size`` pixels are removed.

    Args:
        probs: ``(3, [D,] H, W)`` class probabilities or logits (softmax or sigmoid outputs alike).
        min_size: smallest instance kept, in pixels.
        min_seed_size: smallest interior component used as a seed (smaller ones are flooded from
            their neighbours, which stops specks from splitting a nucleus).
        connectivity: neighbourhood of the interior components (1: 4-neighbourhood in 2D).
        unseeded: ``"label"`` or ``"drop"``, see above.
        spacing: pixel spacing per axis for the distance transform; None: pixel units.

    Returns:
        int32 instance labels ``1..N``, 0 background.
    """
    probs = to_numpy(probs)
    if probs.ndim not in (3, 4) or probs.shape[0] != 3:
        raise ValueError(f"probs must have shape (3, [D,] H, W) (background, interior, border), got {probs.shape}.")
    if not np.all(np.isfinite(probs)):
        raise ValueError("probs contain NaN or Inf.")
    classes = np.argmax(probs, axis=0)
    seeds = ndimage.label(classes == 1, structure=_structure(classes.ndim, connectivity))[0]
    seeds = remove_small_instances(seeds, min_seed_size)
    labels = watershed_from_markers(classes > 0, seeds, spacing, unseeded)
    return remove_small_instances(labels, min_size)
