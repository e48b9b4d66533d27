"""Optimal one-to-one assignment on a sparse bipartite graph (Hungarian algorithm per connected component)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["max_cardinality_assignment"]


def max_cardinality_assignment(rows: np.ndarray, cols: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Select a one-to-one subset of candidate pairs: as many pairs as possible, then the highest total score.

    The candidate pairs are the edges of a bipartite graph (e.g. a true and a predicted object
    whose overlap reaches the threshold, or two centroids closer than a radius). Edges whose two
    ends have no other edge are taken directly; every other connected component is solved
    exactly with :func:`scipy.optimize.linear_sum_assignment` on its small dense matrix, where an
    edge is worth ``K + score`` and a non-edge 0 with ``K`` larger than any attainable score sum,
    so that the number of pairs is maximised first and the score sum second.

    Args:
        rows: left node of each edge (any non-negative integers), shape ``(E,)``.
        cols: right node of each edge, shape ``(E,)``; pairs must be unique.
        scores: value of each edge in ``[0, 1]``, higher is better, shape ``(E,)``.

    Returns:
        indices of the selected edges, sorted, shape ``(M,)``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    row_nodes, row_local = np.unique(rows, return_inverse=True)
    col_nodes, col_local = np.unique(cols, return_inverse=True)
    row_local, col_local = row_local.ravel(), col_local.ravel()
    n_rows, n_cols = row_nodes.size, col_nodes.size

    lone = (np.bincount(row_local, minlength=n_rows)[row_local] == 1) & (
        np.bincount(col_local, minlength=n_cols)[col_local] == 1
    )
    selected = [np.flatnonzero(lone)]
    shared = np.flatnonzero(~lone)
    if shared.size:
        graph = coo_matrix(
            (np.ones(shared.size), (row_local[shared], n_rows + col_local[shared])), shape=(n_rows + n_cols,) * 2
        )
        _, component = connected_components(graph, directed=False)
        edge_component = component[row_local[shared]]
        order = np.argsort(edge_component, kind="stable")
        shared, edge_component = shared[order], edge_component[order]
        bounds = np.flatnonzero(np.diff(edge_component)) + 1
        for edges in np.split(shared, bounds):
            selected.append(edges[_solve_component(row_local[edges], col_local[edges], scores[edges])])
    return np.sort(np.concatenate(selected))


def _solve_component(rows: np.ndarray, cols: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Exact solution on one connected component; returns positions into its edge arrays."""
    row_nodes, r = np.unique(rows, return_inverse=True)
    col_nodes, c = np.unique(cols, return_inverse=True)
    r, c = r.ravel(), c.ravel()
    bonus = min(row_nodes.size, col_nodes.size) + 1.0
    value = np.zeros((row_nodes.size, col_nodes.size))
    value[r, c] = bonus + scores
    edge_of = np.full(value.shape, -1, dtype=np.int64)
    edge_of[r, c] = np.arange(r.size)
    chosen_rows, chosen_cols = linear_sum_assignment(value, maximize=True)
    chosen = edge_of[chosen_rows, chosen_cols]
    return chosen[chosen >= 0]
