"""Two-channel cell phantoms (nucleus stain + cytoplasm stain) with clustered, touching, irregular cells, for the
cell instance segmentation with nucleus feature pyramid fusion of seed 004.

Reference:
    Korfhage et al., "Detection and segmentation of morphologically complex eukaryotic cells in fluorescence
    microscopy images via feature pyramid fusion", PLOS Computational Biology, 2020: macrophages stained with
    Hoechst (nuclei) and CellMask (cytoplasm), forming clusters with faint signal changes where cells touch, some
    cells holding two nuclei.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from cellbundles.synth.utils import (
    LabelCanvas,
    SeedLike,
    StarEllipsoid,
    band_limited_noise,
    check_range,
    check_shape,
    instance_contour,
    label_centroids,
    sample_star_ellipsoid,
    simulate_acquisition,
)

__all__ = ["cells2d"]

_PIXEL = (1.0, 1.0)


def _nuclei_for_cell(
    rng: np.random.Generator, cell: StarEllipsoid, n_nuclei: int, radius_range: Sequence[float], offset: float
) -> list[StarEllipsoid]:
    """``n_nuclei`` (0-2) nuclei around the origin inside ``cell``: they fit within 70 % of its shortest semi-axis,
    two sit side by side along a random direction one pixel apart at least, and the group is then shifted in a
    random direction by ``offset`` times the room left up to 90 % of that semi-axis (nuclei near the cell border)."""
    if n_nuclei == 0:
        return []
    nuclei = [sample_star_ellipsoid(rng, 2, radius_range, irregularity=0.05) for _ in range(n_nuclei)]
    radius = max(float(n.semi_axes.max()) * (1.0 + n.irregularity) for n in nuclei)
    limit = 0.7 * float(cell.semi_axes.min())
    scale = min(1.0, (limit - (n_nuclei - 1)) / (n_nuclei * radius))
    nuclei = [dataclasses.replace(n, semi_axes=n.semi_axes * scale) for n in nuclei]
    extent = n_nuclei * scale * radius + (n_nuclei - 1)
    shift = rng.standard_normal(2)
    shift *= offset * max(0.9 * float(cell.semi_axes.min()) - extent, 0.0) / max(np.linalg.norm(shift), 1e-12)
    if n_nuclei == 1:
        return [nuclei[0].moved_to(shift)]
    direction = rng.standard_normal(2)
    direction *= (scale * radius + 1.0) / max(np.linalg.norm(direction), 1e-12)
    return [nuclei[0].moved_to(shift + direction), nuclei[1].moved_to(shift - direction)]


def _place_cells(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    n_cells: int,
    cell_radius_range: Sequence[float],
    nucleus_radius_range: Sequence[float],
    clustering: float,
    p_two_nuclei: float,
    p_no_nucleus: float,
    nucleus_offset: float,
    irregularity: float,
    max_attempts: int,
) -> tuple[list[StarEllipsoid], np.ndarray, np.ndarray]:
    """Draw the cells and place them with their nuclei (see :func:`cells2d`).

    Returns:
        the placed cell shapes, the nucleus labels ``(H, W)`` and the nucleus -> cell map ``(N + 1,)``.
    """
    canvas = LabelCanvas(shape, _PIXEL)
    cells: list[StarEllipsoid] = []
    nucleus_to_cell = [0]
    for index in range(n_cells):
        cell = sample_star_ellipsoid(rng, 2, cell_radius_range, irregularity)
        draw = rng.random()
        n_nuclei = 0 if draw < p_no_nucleus else 2 if draw < p_no_nucleus + p_two_nuclei else 1
        nuclei = _nuclei_for_cell(rng, cell, n_nuclei, nucleus_radius_range, nucleus_offset)
        radius = float(cell.semi_axes.mean())
        for _ in range(max_attempts):
            if cells and rng.random() < clustering:
                partner = cells[int(rng.integers(len(cells)))]
                direction = rng.standard_normal(2)
                direction /= max(np.linalg.norm(direction), 1e-12)
                distance = (radius + float(partner.semi_axes.mean())) * rng.uniform(0.75, 0.95)
                centre = partner.centre + distance * direction
            else:
                centre = rng.uniform(0.0, np.array(shape) - 1.0)
            if any(np.linalg.norm(centre - c.centre) < 0.6 * (radius + float(c.semi_axes.mean())) for c in cells):
                continue
            rasters = [n.moved_to(centre + n.centre).rasterize(_PIXEL, shape) for n in nuclei]
            if all(done and mask.any() and not canvas.labels_near(lo, mask, 5) for lo, mask, done in rasters):
                break
        else:
            raise ValueError(
                f"cells2d: could not place cell {index + 1} of {n_cells} after {max_attempts} attempts in an image of "
                f"shape {shape}; use fewer cells, a smaller cell_radius_range or a larger shape."
            )
        cells.append(cell.moved_to(centre))
        for lo, mask, _ in rasters:
            canvas.add(lo, mask)
            nucleus_to_cell.append(len(cells))
    return cells, canvas.labels, np.array(nucleus_to_cell, dtype=np.uint16)


def _grow_cells(
    cells: Sequence[StarEllipsoid], nucleus_labels: np.ndarray, nucleus_to_cell: np.ndarray, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Cell territories: each pixel goes to the cell with the smallest normalised radius below 1; nuclei and a 2 px
    rim around them go to their own cell; parts of a cell cut off from its nuclei are dropped (a cell without a
    nucleus keeps its largest part).

    Returns:
        the cell labels ``(H, W)`` uint16 and the winning normalised radius per pixel (inf outside cells' limits).
    """
    radius_map = np.full(shape, np.inf, dtype=np.float32)
    cell_labels = np.zeros(shape, dtype=np.uint16)
    for label, cell in enumerate(cells, start=1):
        lo, hi = cell.clipped_box(_PIXEL, shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        radius = cell.normalized_radius(lo, hi, _PIXEL)
        wins = (radius <= 1.0) & (radius < radius_map[box])
        radius_map[box][wins] = radius[wins]
        cell_labels[box][wins] = label
    rim = ndimage.iterate_structure(ndimage.generate_binary_structure(2, 1), 2)
    owned = ndimage.grey_dilation(nucleus_to_cell[nucleus_labels], footprint=rim)
    cell_labels = np.where(owned > 0, owned, cell_labels).astype(np.uint16)
    for label, box in enumerate(ndimage.find_objects(cell_labels), start=1):
        if box is None:
            continue
        parts, n_parts = ndimage.label(cell_labels[box] == label)
        holding = np.unique(parts[nucleus_to_cell[nucleus_labels[box]] == label])
        if not holding.size:
            holding = np.argmax(ndimage.sum_labels(parts > 0, parts, np.arange(1, n_parts + 1))) + 1
        cell_labels[box][(parts > 0) & ~np.isin(parts, holding)] = 0
    return cell_labels, radius_map


def cells2d(
    shape: Sequence[int] = (256, 256),
    n_cells: int = 12,
    cell_radius_range: Sequence[float] = (16.0, 28.0),
    nucleus_radius_range: Sequence[float] = (7.0, 11.0),
    clustering: float = 0.7,
    p_two_nuclei: float = 0.1,
    p_no_nucleus: float = 0.0,
    nucleus_offset: float = 0.0,
    irregularity: float = 0.3,
    psf_sigma: float = 1.0,
    background: float = 0.03,
    nucleus_intensity_range: Sequence[float] = (0.5, 1.0),
    cytoplasm_intensity_range: Sequence[float] = (0.25, 0.5),
    texture: float = 0.3,
    texture_sigma: float = 2.0,
    contact_dimming: float = 0.3,
    poisson_photons: float | None = 300.0,
    gaussian_noise_std: float = 0.01,
    seed: SeedLike = 0,
    max_attempts: int = 1000,
) -> dict:
    """Synthetic 2-channel image of clustered cells, each holding one (sometimes two, or no) nuclei.

    Cells are placed one at a time: with probability ``clustering`` next to a random earlier cell (centre distance
    75-95 % of the sum of their mean radii), otherwise anywhere; centres keep at least 60 % of that sum apart and
    nuclei keep 5 px apart, by rejection sampling. Every nucleus lies entirely inside the image; cells may be cut by
    the border. Each cell grows from its centre up to a noisy radius limit (an ellipse with random semi-axes in
    ``cell_radius_range`` whose outline is perturbed by up to ``irregularity``, giving protrusions), and where cells
    compete for a pixel the one with the smaller normalised radius wins, so clustered cells share irregular borders.
    Each nucleus and a 2 px rim around it are always given to its own cell, and a cell keeps only the connected
    parts that hold its nuclei, so every nucleus lies inside exactly one cell.

    Channel 0 (nucleus stain): per-nucleus brightness from ``nucleus_intensity_range`` with texture. Channel 1
    (cytoplasm stain): per-cell brightness from ``cytoplasm_intensity_range``, brighter towards the cell centre
    (thicker cytoplasm), with texture and dimmed by ``contact_dimming`` on borders between touching cells (the faint
    signal change of the paper). Both channels then go through the acquisition model of
    :func:`cellbundles.synth.utils.simulate_acquisition` with independent noise.

    Defaults: 12 cells with semi-axes of 16-28 px in a 256 x 256 image, 70 % clustered, nuclei with semi-axes of
    7-11 px (shrunk to fit small cells), 10 % of cells with two nuclei.

    Args:
        shape: image shape ``(H, W)``.
        n_cells: number of cells ``C``.
        cell_radius_range: range of the cell semi-axes in pixels.
        nucleus_radius_range: range of the nucleus semi-axes in pixels.
        clustering: probability that a cell is placed next to an earlier one, in [0, 1].
        p_two_nuclei: probability that a cell holds two nuclei, in [0, 1].
        p_no_nucleus: probability that a cell holds no nucleus (cut by the focal plane), in [0, 1].
        nucleus_offset: how far the nuclei move off the cell centre towards its border, as a share of the room
            left (0: centred, 1: up to 90 % of the cell's shortest semi-axis), in [0, 1].
        irregularity: relative amplitude of the random cell outline perturbation, in [0, 1).
        psf_sigma, background, poisson_photons, gaussian_noise_std: acquisition model, as in
            :func:`cellbundles.synth.nuclei.nuclei3d`.
        nucleus_intensity_range: per-nucleus brightness range (channel 0).
        cytoplasm_intensity_range: per-cell brightness range (channel 1).
        texture: relative amplitude of the texture in both channels.
        texture_sigma: texture correlation length in pixels.
        contact_dimming: relative drop of the cytoplasm signal on borders between touching cells.
        seed: anything ``numpy.random.default_rng`` accepts.
        max_attempts: placement attempts per cell before a ``ValueError``.

    Returns:
        dict with
            - ``image``: float32 ``(2, H, W)``, channel 0 nucleus stain, channel 1 cytoplasm stain;
            - ``cell_labels``: uint16 ``(H, W)``, cells ``1..C``;
            - ``nucleus_labels``: uint16 ``(H, W)``, nuclei ``1..N``;
            - ``nucleus_to_cell``: uint16 ``(N + 1,)``, the cell id of each nucleus id (entry 0 is 0), so that
              ``nucleus_to_cell[nucleus_labels]`` paints each nucleus with its cell's id;
            - ``cell_centroids``: float ``(C, 2)`` and ``nucleus_centroids``: float ``(N, 2)``, centres of mass (y, x).

    Raises:
        ValueError: on invalid arguments or when the cells cannot be placed.
    """
    shape = check_shape(shape, 2)
    cell_radius_range = check_range("cells2d: cell_radius_range", cell_radius_range)
    nucleus_radius_range = check_range("cells2d: nucleus_radius_range", nucleus_radius_range)
    fractions = {
        "clustering": clustering,
        "p_two_nuclei": p_two_nuclei,
        "p_no_nucleus": p_no_nucleus,
        "nucleus_offset": nucleus_offset,
        "contact_dimming": contact_dimming,
    }
    for name, value in fractions.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"cells2d: {name} must lie in [0, 1], got {value}.")
    if p_two_nuclei + p_no_nucleus > 1.0:
        raise ValueError(f"cells2d: p_two_nuclei + p_no_nucleus must not exceed 1, got {p_two_nuclei + p_no_nucleus}.")
    if min(cell_radius_range[0], nucleus_radius_range[0]) <= 0:
        raise ValueError("cells2d: cell_radius_range and nucleus_radius_range must be positive.")
    if not 0.0 <= irregularity < 1.0:
        raise ValueError(f"cells2d: irregularity must lie in [0, 1), got {irregularity}.")
    if not 0 <= n_cells <= np.iinfo(np.uint16).max // 2:
        raise ValueError(f"cells2d: n_cells must lie in [0, 32767], got {n_cells}.")
    nucleus_intensity_range = check_range("cells2d: nucleus_intensity_range", nucleus_intensity_range)
    cytoplasm_intensity_range = check_range("cells2d: cytoplasm_intensity_range", cytoplasm_intensity_range)
    rng = np.random.default_rng(seed)

    cells, nucleus_labels, nucleus_to_cell = _place_cells(
        rng, shape, n_cells, cell_radius_range, nucleus_radius_range, clustering, p_two_nuclei, p_no_nucleus,
        nucleus_offset, irregularity, max_attempts,
    )  # fmt: skip
    cell_labels, radius_map = _grow_cells(cells, nucleus_labels, nucleus_to_cell, shape)

    nucleus_phantom = np.concatenate([[0.0], rng.uniform(*nucleus_intensity_range, size=len(nucleus_to_cell) - 1)])
    nucleus_phantom = nucleus_phantom.astype(np.float32)[nucleus_labels]
    cytoplasm_phantom = np.concatenate([[0.0], rng.uniform(*cytoplasm_intensity_range, size=n_cells)])
    cytoplasm_phantom = cytoplasm_phantom.astype(np.float32)[cell_labels] * (1.0 - 0.4 * np.minimum(radius_map, 1.0))
    contact = instance_contour(cell_labels).astype(bool) & ~instance_contour(cell_labels > 0).astype(bool)
    cytoplasm_phantom *= 1.0 - contact_dimming * contact
    channels = []
    for phantom in (nucleus_phantom, cytoplasm_phantom):
        if texture > 0:
            phantom = phantom * np.maximum(1.0 + texture * band_limited_noise(rng, shape, texture_sigma), 0.0)
        channels.append(simulate_acquisition(rng, phantom, psf_sigma, background, poisson_photons, gaussian_noise_std))
    return {
        "image": np.stack(channels).astype(np.float32),
        "cell_labels": cell_labels,
        "nucleus_labels": nucleus_labels,
        "nucleus_to_cell": nucleus_to_cell,
        "cell_centroids": label_centroids(cell_labels, n_cells),
        "nucleus_centroids": label_centroids(nucleus_labels, len(nucleus_to_cell) - 1),
    }
