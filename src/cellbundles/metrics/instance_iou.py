"""Pairwise IoU of scored instances (possibly overlapping masks, or boxes), as detectors output them."""

from __future__ import annotations

import numpy as np
from scipy import ndimage, sparse

__all__ = ["box_iou", "instance_boxes", "mask_iou", "masks_as_sparse"]


def masks_as_sparse(instances: np.ndarray, spatial_dims: int) -> sparse.csr_matrix:
    """One sparse boolean row per instance, one column per voxel.

    Args:
        instances: either a label image with ``spatial_dims`` dimensions (one instance per id > 0,
            rows in increasing id order) or a stack of masks ``(N, *spatial)`` with
            ``spatial_dims + 1`` dimensions, whose masks may overlap.
        spatial_dims: number of spatial dimensions, 2 or 3.

    Returns:
        a CSR matrix of shape ``(N, n_voxels)``.
    """
    instances = np.asarray(instances)
    if instances.ndim == spatial_dims:
        flat = instances.reshape(-1)
        voxels = np.flatnonzero(flat)
        ids, rows = np.unique(flat[voxels], return_inverse=True)
        return sparse.csr_matrix(
            (np.ones(voxels.size, dtype=np.int64), (rows.ravel(), voxels)), shape=(ids.size, flat.size)
        )
    if instances.ndim == spatial_dims + 1:
        n_voxels = int(np.prod(instances.shape[1:]))
        return sparse.csr_matrix(instances.reshape(instances.shape[0], n_voxels).astype(bool), dtype=np.int64)
    raise ValueError(
        f"instances must be a label image with {spatial_dims} dimensions or a mask stack with "
        f"{spatial_dims + 1}, got shape {instances.shape}."
    )


def mask_iou(true_masks: sparse.csr_matrix, pred_masks: sparse.csr_matrix) -> np.ndarray:
    """IoU of every (predicted, true) pair of sparse masks (see :func:`masks_as_sparse`).

    Returns:
        dense array of shape ``(n_pred, n_true)``.
    """
    if true_masks.shape[1] != pred_masks.shape[1]:
        raise ValueError(f"masks cover {true_masks.shape[1]} and {pred_masks.shape[1]} voxels: images differ in size.")
    intersection = (pred_masks @ true_masks.T).toarray().astype(np.float64)
    true_area = np.asarray(true_masks.sum(axis=1)).ravel()
    pred_area = np.asarray(pred_masks.sum(axis=1)).ravel()
    union = pred_area[:, None] + true_area[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def box_iou(true_boxes: np.ndarray, pred_boxes: np.ndarray) -> np.ndarray:
    """IoU of every (predicted, true) pair of axis-aligned boxes.

    Args:
        true_boxes: shape ``(N, 2 * spatial_dims)``, minimum corner then maximum corner
            (``x1, y1, x2, y2`` in 2D, as MONAI and torchvision), continuous coordinates.
        pred_boxes: shape ``(M, 2 * spatial_dims)``.

    Returns:
        dense array of shape ``(M, N)``.
    """
    true_boxes = np.asarray(true_boxes, dtype=np.float64).reshape(-1, np.shape(true_boxes)[-1])
    pred_boxes = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, np.shape(pred_boxes)[-1])
    if true_boxes.shape[1] != pred_boxes.shape[1] or true_boxes.shape[1] % 2:
        raise ValueError(f"boxes must be (N, 2 * spatial_dims), got {true_boxes.shape} and {pred_boxes.shape}.")
    dims = true_boxes.shape[1] // 2
    low = np.maximum(pred_boxes[:, None, :dims], true_boxes[None, :, :dims])
    high = np.minimum(pred_boxes[:, None, dims:], true_boxes[None, :, dims:])
    intersection = np.prod(np.clip(high - low, 0.0, None), axis=-1)
    true_volume = np.prod(true_boxes[:, dims:] - true_boxes[:, :dims], axis=-1)
    pred_volume = np.prod(pred_boxes[:, dims:] - pred_boxes[:, :dims], axis=-1)
    union = pred_volume[:, None] + true_volume[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def instance_boxes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids and bounding boxes of the instances of a 2D label image.

    Boxes cover whole pixels in continuous coordinates, ``x1, y1, x2, y2`` with ``x`` the column:
    an object on columns 3-5 has ``x1 = 3`` and ``x2 = 6``.

    Args:
        labels: ``(H, W)`` integer label image, 0 background.

    Returns:
        ``(N,)`` ids in increasing order and ``(N, 4)`` float64 boxes.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2D label image, got shape {labels.shape}.")
    slices = ndimage.find_objects(labels.astype(np.int64, copy=False))
    ids = np.array([i for i, box in enumerate(slices, start=1) if box is not None], dtype=np.int64)
    boxes = [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in slices if s is not None]
    return ids, np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
