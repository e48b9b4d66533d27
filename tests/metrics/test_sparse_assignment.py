from __future__ import annotations

import itertools

import numpy as np

from cellbundles.metrics.assignment import max_cardinality_assignment


def _brute_force(rows, cols, scores):
    """Best (number of pairs, score sum) over every one-to-one subset of the edges."""
    best = (0, 0.0)
    for k in range(len(rows), 0, -1):
        for subset in itertools.combinations(range(len(rows)), k):
            r, c = rows[list(subset)], cols[list(subset)]
            if len(set(r)) == k and len(set(c)) == k:
                best = max(best, (k, float(scores[list(subset)].sum())))
        if best[0]:
            return best
    return best


def test_prefers_more_pairs_over_higher_score():
    # greedy by score takes (0, 0) and blocks both others; the optimum takes two pairs
    rows, cols, scores = np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([0.9, 0.4, 0.3])
    chosen = max_cardinality_assignment(rows, cols, scores)
    assert chosen.tolist() == [1, 2]


def test_random_graphs_match_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(60):
        n_edges = rng.integers(0, 9)
        pairs = {(int(rng.integers(0, 5)), int(rng.integers(0, 5)) + 100) for _ in range(n_edges)}
        rows = np.array([p[0] for p in pairs], dtype=int)
        cols = np.array([p[1] for p in pairs], dtype=int)
        scores = rng.random(len(pairs))
        chosen = max_cardinality_assignment(rows, cols, scores)
        assert len(set(rows[chosen])) == chosen.size == len(set(cols[chosen]))
        count, total = _brute_force(rows, cols, scores)
        assert chosen.size == count
        np.testing.assert_allclose(scores[chosen].sum(), total)


def test_empty_graph():
    assert max_cardinality_assignment(np.array([]), np.array([]), np.array([])).size == 0
