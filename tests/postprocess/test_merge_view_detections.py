"""Merging the detections of several views of one image (test-time augmentation of the detectors)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from cellbundles.postprocess import merge_view_detections


def _square(top: int, left: int, size: int = 4, shape: tuple[int, int] = (10, 10)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + size, left : left + size] = True
    return mask.ravel()


def test_overlapping_detections_of_different_views_merge_and_scores_average_over_all_views():
    masks = [_square(0, 0), _square(6, 6, 2), _square(0, 1), _square(6, 0, 3)]  # A, B (view 0); A', C (view 1)
    merged, scores = merge_view_detections(sparse.csr_matrix(np.stack(masks)), [0.9, 0.6, 0.8, 0.4], [0, 0, 1, 1], 2)
    np.testing.assert_allclose(scores, [0.85, 0.3, 0.2])  # (0.9 + 0.8) / 2; B and C seen by one view of two
    np.testing.assert_array_equal(merged[0], masks[0] | masks[2])  # two members: pixels of at least one
    np.testing.assert_array_equal(merged[1], masks[1])
    np.testing.assert_array_equal(merged[2], masks[3])


def test_a_mask_keeps_the_pixels_of_half_its_members_and_one_view_never_merges_with_itself():
    masks = [_square(0, 0), _square(0, 1), _square(1, 0), _square(0, 0), _square(0, 0)]
    views = [0, 1, 2, 3, 0]  # the last detection repeats view 0's: it stays separate
    merged, scores = merge_view_detections(sparse.csr_matrix(np.stack(masks)), [0.8, 0.8, 0.8, 0.8, 0.4], views, 4)
    np.testing.assert_allclose(scores, [0.8, 0.1])
    votes = np.stack(masks[:4]).sum(axis=0)
    np.testing.assert_array_equal(merged[0], votes >= 2)
    np.testing.assert_array_equal(merged[0], masks[0])  # the pixels added by one shifted view are dropped
    with pytest.raises(ValueError, match="same detections"):
        merge_view_detections(sparse.csr_matrix(np.stack(masks)), [0.8], views, 4)
