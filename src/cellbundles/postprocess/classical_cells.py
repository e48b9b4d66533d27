"""Classical cells of a two-channel image: the nuclei seed a watershed of the cell stain.

The baseline beside seed 004's cell models (Korfhage et al., PLoS Comput Biol 16(9): e1008179, 2020), built the
way a CellProfiler user builds it (primary objects on the nucleus stain, secondary objects by watershed on the
cell stain):

1. nuclei: :func:`~cellbundles.postprocess.classical.classical_instances` of the nucleus stain (Otsu + distance-
   transform seeded watershed at the nucleus diameter);
2. cell foreground: above the Otsu threshold of the cell stain smoothed by ``foreground_sigma`` pixels (the
   foreground of seed 004's post-processing rules), holes filled, nuclei added;
3. cells: the foreground flooded from the nuclei on the negated smoothed cell stain, so that neighbouring cells
   meet where their stain is darkest; a foreground component without a nucleus keeps its own label.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from .classical import classical_instances
from .semantic import remove_small_instances
from .watershed import watershed_from_markers

__all__ = ["classical_cells", "stain_segmentations"]


def stain_segmentations(
    nucleus_stain: np.ndarray, cell_stain: np.ndarray, nucleus_diameter: float, foreground_sigma: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nuclei, cell foreground and smoothed cell stain (module docstring, steps 1-2 before hole filling).

    Args:
        nucleus_stain, cell_stain: ``(H, W)`` intensities of the two stains.
        nucleus_diameter: typical nucleus diameter in pixels.
        foreground_sigma: Gaussian smoothing in pixels of the cell stain before its Otsu threshold.

    Returns:
        int32 nucleus instances ``(H, W)``, the boolean foreground ``(H, W)`` and the smoothed cell stain.
    """
    if np.shape(nucleus_stain) != np.shape(cell_stain) or np.ndim(cell_stain) != 2:
        raise ValueError(f"expected two (H, W) stains of one shape, got {np.shape(nucleus_stain)} and {np.shape(cell_stain)}.")
    nuclei = classical_instances(nucleus_stain, None, nucleus_diameter)
    smoothed = ndimage.gaussian_filter(np.asarray(cell_stain, dtype=np.float32), foreground_sigma)
    if np.ptp(smoothed) > 0:
        foreground = smoothed > threshold_otsu(smoothed)
    else:
        foreground = np.zeros(smoothed.shape, dtype=bool)
    return nuclei, foreground, smoothed


def classical_cells(
    nucleus_stain: np.ndarray,
    cell_stain: np.ndarray,
    nucleus_diameter: float = 18.0,
    foreground_sigma: float = 2.0,
    min_size: int = 15,
) -> np.ndarray:
    """Cell instance labels by a nucleus-seeded watershed of the cell stain (module docstring).

    Args:
        nucleus_stain, cell_stain: ``(H, W)`` intensities of the two stains (bright objects).
        nucleus_diameter: typical nucleus diameter in pixels.
        foreground_sigma: Gaussian smoothing in pixels of the cell stain.
        min_size: cells of fewer pixels are removed.

    Returns:
        int32 instance labels ``1..N`` ``(H, W)``, 0 background.
    """
    nuclei, foreground, smoothed = stain_segmentations(nucleus_stain, cell_stain, nucleus_diameter, foreground_sigma)
    foreground = ndimage.binary_fill_holes(foreground) | (nuclei > 0)
    cells = watershed_from_markers(foreground, nuclei, unseeded="label", relief=-smoothed)
    return remove_small_instances(cells, min_size)
