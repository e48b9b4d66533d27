"""Seed 004's post-processing rules on hand-made label images."""

from __future__ import annotations

import numpy as np

from cellbundles.postprocess import (
    apply_cell_rules,
    cover_nuclei,
    merge_cells_sharing_nuclei,
    recover_foreground,
)


def test_cells_sharing_a_nucleus_are_merged():
    cells = np.zeros((10, 20), np.int32)
    cells[:, :10], cells[:, 10:], cells[0, 0] = 1, 2, 3
    nuclei = np.zeros_like(cells)
    nuclei[4:6, 8:12] = 1  # half in cell 1, half in cell 2
    nuclei[0:2, 0:2] = 2  # cell 3 covers 1 pixel of 4: >= 10 %, but nucleus 2 lies in cell 1 too
    merged = merge_cells_sharing_nuclei(cells, nuclei)
    assert np.unique(merged).tolist() == [1]
    nuclei[0:2, 0:2] = 0
    merged = merge_cells_sharing_nuclei(cells, nuclei, min_overlap=0.6)  # neither cell holds 60 % of it
    np.testing.assert_array_equal(merged, cells)


def test_uncovered_foreground_joins_one_neighbour_is_dropped_between_two_or_becomes_a_cell():
    cells = np.zeros((30, 40), np.int32)
    cells[0:10, 0:10], cells[0:10, 20:30] = 1, 2
    foreground = cells > 0
    foreground[0:10, 10:14] = True  # touches cell 1 only
    foreground[20:28, 0:8] = True  # touches nothing
    foreground[12:16, 5:25] = True  # touches neither (two rows apart): new cell
    foreground[0:10, 16:20] = True  # touches cell 2 only
    foreground[25:27, 30:32] = True  # too small
    ruled = recover_foreground(cells, foreground, min_region_size=10)
    assert (ruled[0:10, 10:14] == 1).all() and (ruled[0:10, 16:20] == 2).all()
    assert (ruled[12:16, 5:25] == 3).all() and (ruled[20:28, 0:8] == 4).all()  # new ids in raster order
    assert ruled[26, 31] == 0
    between = np.zeros((10, 30), np.int32)
    between[:, :10], between[:, 20:] = 1, 2
    ruled = recover_foreground(between, np.ones((10, 30), bool), min_region_size=10)
    assert (ruled[:, 10:20] == 0).all()  # touches both cells: discarded


def test_uncovered_nuclei_enlarge_their_cell_or_become_cells():
    cells = np.zeros((20, 20), np.int32)
    cells[0:10, 0:10] = 1
    nuclei = np.zeros_like(cells)
    nuclei[8:12, 4:8] = 1  # half outside cell 1
    nuclei[14:18, 14:18] = 2  # outside every cell
    ruled = cover_nuclei(cells, nuclei)
    assert (ruled[8:12, 4:8] == 1).all() and (ruled[14:18, 14:18] == 2).all()
    assert (ruled[(nuclei == 0) & (cells == 0)] == 0).all()


def test_rules_keep_ids_ranked_by_score():
    cells = np.zeros((20, 30), np.int32)
    cells[:, 0:10], cells[:, 10:20] = 2, 1  # id 1 scores 0.9, id 2 scores 0.8
    nuclei = np.zeros_like(cells)
    nuclei[5:9, 8:12] = 1  # shared: cells 1 and 2 merge
    nuclei[10:14, 24:28] = 2  # outside: a new cell of score 0
    ruled, scores = apply_cell_rules(cells, np.array([0.9, 0.8]), nuclei, np.zeros_like(cells, bool))
    np.testing.assert_array_equal(scores, [0.9, 0.0])
    assert (ruled[:, 0:20] == 1).all() and (ruled[nuclei == 2] == 2).all()
