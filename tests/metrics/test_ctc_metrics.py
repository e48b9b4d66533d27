from __future__ import annotations

import numpy as np
import pytest

from cellbundles.metrics import ctc_det, ctc_detection_errors, ctc_seg


def _scene():
    """Four reference cells; the segmentation merges two, misses one and adds a spurious object.

    - reference 1 (4x4 = 16 px) is segmented by S=10 covering 12 of its pixels plus 4 others:
      Jaccard 12 / 20.
    - references 2 and 3 (4x4 each) are both covered by one object S=20 (32 px): Jaccard 16 / 32 each,
      and one split operation.
    - reference 4 is only half covered (8 of 16 px) by S=30: no match (needs > 50 %), a false
      negative, and S=30 a false positive; S=40 lies on background: another false positive.
    """
    ref = np.zeros((12, 24), dtype=np.uint16)
    seg = np.zeros_like(ref)
    ref[0:4, 0:4] = 1
    ref[0:4, 6:10] = 2
    ref[0:4, 10:14] = 3
    ref[6:10, 0:4] = 4
    seg[0:4, 1:5] = 10
    seg[0:4, 6:14] = 20
    seg[6:10, 0:2] = 30
    seg[8:12, 18:22] = 40
    return ref, seg


def test_ctc_seg_hand_computed():
    ref, seg = _scene()
    assert ctc_seg(ref, seg) == pytest.approx((12 / 20 + 16 / 32 + 16 / 32 + 0) / 4)
    assert ctc_seg(ref, ref) == 1.0
    assert ctc_seg(ref, np.zeros_like(ref)) == 0.0
    assert ctc_seg(np.zeros_like(ref), seg) == 0.0


def test_ctc_seg_requires_strict_majority():
    ref = np.zeros((4, 4), dtype=int)
    ref[:, 0:2] = 1  # 8 px
    seg = np.zeros_like(ref)
    seg[:, 0:1] = 5  # exactly half: no match
    assert ctc_seg(ref, seg) == 0.0
    seg[0, 1] = 5  # 5 of 8: match with Jaccard 5 / 8
    assert ctc_seg(ref, seg) == pytest.approx(5 / 8)


def test_ctc_det_hand_computed():
    ref, seg = _scene()
    errors = ctc_detection_errors(ref, seg)
    assert (errors.n_split, errors.n_false_negative, errors.n_false_positive, errors.n_reference) == (1, 1, 2, 4)
    assert errors.aogm_d() == 5 * 1 + 10 * 1 + 1 * 2
    assert ctc_det(ref, seg) == pytest.approx(1 - 17 / 40)
    assert ctc_det(ref, ref) == 1.0
    assert ctc_det(ref, np.zeros_like(ref)) == 0.0
    assert ctc_det(ref, seg, w_ns=0, w_fn=10, w_fp=0) == pytest.approx(0.75)


def test_ctc_det_is_clipped_at_zero():
    ref = np.zeros((10, 10), dtype=int)
    ref[0, 0] = 1
    seg = np.arange(100).reshape(10, 10) + 1  # 99 false positives and one match
    assert ctc_det(ref, seg) == 0.0


def test_sequences_are_scored_as_a_whole():
    ref, seg = _scene()
    frames = ctc_detection_errors([ref, ref], [seg, ref])
    assert (frames.n_split, frames.n_false_negative, frames.n_false_positive, frames.n_reference) == (1, 1, 2, 8)
    assert ctc_det([ref, ref], [seg, ref]) == pytest.approx(1 - 17 / 80)
    assert ctc_seg([ref, ref], [seg, ref]) == pytest.approx((12 / 20 + 1.0 + 4) / 8)
    with pytest.raises(ValueError, match="sequences"):
        ctc_seg([ref], seg)
