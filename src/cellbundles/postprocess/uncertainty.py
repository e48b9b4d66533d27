"""Test-time-dropout uncertainty of detected nuclei (seed 000, section 3.3).

The paper runs 100 dropout passes, takes the local maxima of each dropout density as candidate
nuclei and defines, for every peak of the dropout-free prediction, the radius of its 90 %
confidence volume as the distance to its 90th closest dropout peak; removing the 10 % most
uncertain peaks improved detection.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from cellbundles.utils import spacing_array, to_numpy

__all__ = ["flag_most_uncertain", "mc_uncertainty_radii"]


def mc_uncertainty_radii(
    reference_peaks: np.ndarray,
    dropout_peaks: Sequence[np.ndarray],
    spacing: Sequence[float] | float | None = None,
    quantile: float = 0.9,
    gating_radius_um: float | None = None,
) -> np.ndarray:
    """Radius of the ``quantile`` confidence volume of every reference peak.

    Assignment: in every pass ``n`` the dropout peak nearest to a reference peak (Euclidean distance
    in physical units) is that peak's sample for pass ``n``; when ``gating_radius_um`` is given and
    no peak of the pass lies within it, or when the pass has no peak, the sample is missing
    (distance ``inf``). One dropout peak may serve several reference peaks. With ``N`` passes the
    radius is the ``k``-th smallest of the ``N`` distances, ``k = ceil(quantile * N)``: with 100 passes
    and ``quantile=0.9``, the distance to the 90th closest dropout peak, as in the paper. It is
    ``inf`` when fewer than ``k`` passes found the peak. (The paper pools all candidates of all
    passes; taking one sample per pass keeps a pass that splits a nucleus in two from counting twice.)

    Args:
        reference_peaks: ``(M, D)`` peak coordinates (voxels) of the prediction without dropout.
        dropout_peaks: ``N`` arrays of ``(K_n, D)`` peak coordinates, one per dropout pass.
        spacing: voxel spacing per axis; None: voxel units (radii then in voxels).
        quantile: confidence level in ``(0, 1]`` (paper: 0.9).
        gating_radius_um: largest distance at which a dropout peak still counts as the same nucleus; None: no gate.

    Returns:
        ``(M,)`` float64 radii in the units of ``spacing``.
    """
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}.")
    if len(dropout_peaks) == 0:
        raise ValueError("dropout_peaks must hold at least one pass.")
    reference = to_numpy(reference_peaks).astype(np.float64)
    if reference.ndim != 2:
        raise ValueError(f"reference_peaks must have shape (M, D), got {reference.shape}.")
    spatial_dims = reference.shape[1]
    scale = spacing_array(spacing, spatial_dims)
    upper_bound = np.inf if gating_radius_um is None else float(gating_radius_um)
    if len(reference) == 0:
        return np.zeros(0, dtype=np.float64)
    distances = np.full((len(reference), len(dropout_peaks)), np.inf)
    for index, peaks in enumerate(dropout_peaks):
        peaks = to_numpy(peaks).astype(np.float64).reshape(-1, spatial_dims)
        if len(peaks):
            distances[:, index] = cKDTree(peaks * scale).query(reference * scale, distance_upper_bound=upper_bound)[0]
    rank = max(int(np.ceil(quantile * len(dropout_peaks) - 1e-9)), 1)
    return np.partition(distances, rank - 1, axis=1)[:, rank - 1]


def flag_most_uncertain(radii: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """Boolean mask of the ``fraction`` of peaks with the largest uncertainty radii (paper: top 10 %).

    ``floor(fraction * M)`` peaks are flagged (never more than the fraction), largest radii first
    (``inf`` counts as largest); among equal radii the later peaks are flagged first (for the output
    of :func:`cellbundles.postprocess.find_density_peaks`, ordered by decreasing value, the weaker peaks).

    Args:
        radii: ``(M,)`` radii from :func:`mc_uncertainty_radii`.
        fraction: share of peaks to flag, in ``[0, 1]``.

    Returns:
        ``(M,)`` bool, True for the peaks to remove.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}.")
    radii = to_numpy(radii).astype(np.float64).ravel()
    if np.any(np.isnan(radii)):
        raise ValueError("radii contain NaN.")
    count = int(np.floor(fraction * len(radii) + 1e-9))
    flags = np.zeros(len(radii), dtype=bool)
    order = np.lexsort((-np.arange(len(radii)), -radii))
    flags[order[:count]] = True
    return flags
