"""Quick-look pictures of results: projections of images with instance outlines and centroid marks.

Everything here is numpy + scikit-image and returns ``uint8`` RGB arrays ``(H, W, 3)`` that
:func:`cellbundles.io.write_image` saves as PNG, so bundles can write an ``overlay.png`` per input
without a plotting library. Overlays of small images are enlarged (nearest neighbour, whole factors
per axis, square physical pixels) so that nuclei, their outlines and their ids can be seen.
"""

from __future__ import annotations

import numpy as np

__all__ = ["label_colors", "max_projection", "overlay_projection", "overlay_scale", "to_uint8"]

_OUTLINE_RGB = (255, 220, 0)
_CENTROID_RGB = (255, 0, 255)
_ID_RGB = (0, 255, 255)
_GAP_RGB = (48, 48, 48)
_GAP = 6
"""Pixels between the panels of a 3D overlay with side views."""
_DIGITS = (
    "111101101101111", "010110010010111", "111001111100111", "111001111001111", "101101111001001",
    "111100111001111", "111100111101111", "111001001001001", "111101111101111", "111101111001111",
)  # fmt: skip
"""3 x 5 bitmaps of the digits 0-9, row by row."""


def max_projection(volume: np.ndarray) -> np.ndarray:
    """Maximum projection along z of a ``(Z, Y, X)`` volume; a ``(Y, X)`` image is returned as is."""
    volume = np.asarray(volume)
    if volume.ndim not in (2, 3):
        raise ValueError(f"expected a (Y, X) image or a (Z, Y, X) volume, got shape {volume.shape}.")
    return volume.max(axis=0) if volume.ndim == 3 else volume


def _intensity_range(image: np.ndarray, percentiles: tuple[float, float]) -> tuple[float, float] | None:
    """The two intensity percentiles of the finite pixels, or None when there are none."""
    finite = image[np.isfinite(image)]
    return None if finite.size == 0 else tuple(float(v) for v in np.percentile(finite, percentiles))


def _scale_uint8(image: np.ndarray, limits: tuple[float, float] | None) -> np.ndarray:
    """``image`` mapped linearly from ``limits`` to 0-255, clipped (black without limits)."""
    image = np.asarray(image, dtype=np.float64)
    if limits is None:
        return np.zeros(image.shape, dtype=np.uint8)
    low, high = limits
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return (np.clip(np.nan_to_num(scaled), 0.0, 1.0) * 255).round().astype(np.uint8)


def to_uint8(image: np.ndarray, percentiles: tuple[float, float] = (1.0, 99.8)) -> np.ndarray:
    """Scale an image to ``uint8`` between two intensity percentiles (clipped)."""
    image = np.asarray(image, dtype=np.float64)
    return _scale_uint8(image, _intensity_range(image, percentiles))


def label_colors(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Random bright colour per instance id, black background: ``(H, W)`` ids -> ``(H, W, 3)`` uint8."""
    labels = np.asarray(labels)
    palette = np.random.default_rng(seed).integers(64, 256, size=(int(labels.max(initial=0)) + 1, 3))
    palette[0] = 0
    return palette[labels].astype(np.uint8)




def overlay_scale(
    shape: tuple[int, ...],
    spacing: tuple[float, ...] | None = None,
    min_side: int | None = 512,
    max_side: int = 2048,
    side_views: bool = False,
) -> tuple[int, ...]:
    """Whole nearest-neighbour enlargement factors per axis of an overlay of a ``shape`` array.

    The factors make the picture's pixels square in physical units (an axis with a larger voxel size
    gets a proportionally larger factor, rounded) and grow together until the shorter side of the
    ``(Y, X)`` projection reaches ``min_side`` pixels, as long as the longer side of the whole picture
    (side views included) stays within ``max_side``. A picture already that large keeps factor 1 on
    its finest axis: overlays are never shrunk.

    Args:
        shape: ``(Y, X)`` or ``(Z, Y, X)``.
        spacing: voxel size per axis (micrometres, any unit) or None for square pixels.
        min_side: wanted length in pixels of the shorter side of the ``(Y, X)`` projection; None or
            0: no enlargement beyond square pixels.
        max_side: the longest side enlargement may reach.
        side_views: whether the picture of a ``(Z, Y, X)`` volume has the z side views of
            :func:`overlay_projection` (then z counts, and its factor makes z voxels square too).

    Returns:
        one factor per axis of ``shape``.
    """
    from cellbundles.utils import spacing_array

    shape = tuple(int(n) for n in shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"expected a (Y, X) or (Z, Y, X) shape, got {shape}.")
    spacing = spacing_array(spacing, len(shape), name="overlay spacing")
    shown = spacing if (side_views and len(shape) == 3) else spacing[-2:]
    relative = spacing / shown.min()

    def factors(k: int) -> tuple[int, ...]:
        return tuple(max(1, int(round(k * r))) for r in relative)

    def projection(k: int) -> tuple[int, int]:  # the (Y, X) projection
        f = factors(k)
        return shape[-2] * f[-2], shape[-1] * f[-1]

    def picture(k: int) -> tuple[int, int]:  # all of it
        height, width = projection(k)
        if side_views and len(shape) == 3:
            depth = shape[0] * factors(k)[0]
            height, width = height + _GAP + depth, width + _GAP + depth
        return height, width

    best = 1
    if min_side and min(projection(1)) < min_side:
        for k in range(2, max_side + 1):
            if max(picture(k)) > max_side:
                break
            best = k
            if min(projection(k)) >= min_side:
                break
    return factors(best)


def _digit_mask(text: str, size: int) -> np.ndarray:
    """Boolean bitmap of ``text`` (digits) in the 3 x 5 font, each font pixel ``size`` x ``size``."""
    glyphs = [np.array(list(_DIGITS[int(c)]), dtype=int).reshape(5, 3).astype(bool) for c in text]
    spaced = []
    for index, glyph in enumerate(glyphs):
        spaced.append(glyph)
        if index < len(glyphs) - 1:
            spaced.append(np.zeros((5, 1), bool))
    mask = np.concatenate(spaced, axis=1)
    return np.kron(mask, np.ones((size, size), bool)).astype(bool)


def _draw_ids(rgb: np.ndarray, labels: np.ndarray, factors: tuple[int, int], size: int, below: int | None) -> None:
    """Write each instance id (cyan on a black halo) at its centre, or ``below`` pixels under it, where it fits."""
    from scipy import ndimage

    ids = np.unique(labels)
    ids = ids[ids > 0]
    if ids.size == 0:
        return
    centres = ndimage.center_of_mass(np.ones(labels.shape), labels, ids)
    boxes = ndimage.find_objects(labels)
    height, width = rgb.shape[:2]
    for label_id, centre in zip(ids, centres):
        box = boxes[int(label_id) - 1]
        mask = _digit_mask(str(int(label_id)), size)
        text_h, text_w = mask.shape
        box_h = 0 if box is None else (box[0].stop - box[0].start) * factors[0]
        box_w = 0 if box is None else (box[1].stop - box[1].start) * factors[1]
        if box_h < (text_h if below is None else 2 * (below + text_h)) or box_w < text_w:
            continue  # too small to hold its id
        middle = (centre[0] + 0.5) * factors[0]
        top = int(round(middle - text_h / 2 if below is None else middle + below))
        left = int(round((centre[1] + 0.5) * factors[1] - text_w / 2))
        top, left = min(max(top, 1), height - text_h - 1), min(max(left, 1), width - text_w - 1)
        if top < 1 or left < 1:
            continue
        halo = ndimage.binary_dilation(np.pad(mask, 1))
        window = rgb[top - 1 : top + text_h + 1, left - 1 : left + text_w + 1]
        window[halo] = 0
        window[1:-1, 1:-1][mask] = _ID_RGB


def _panel(
    grey: np.ndarray,
    labels: np.ndarray | None,
    points: np.ndarray | None,
    factors: tuple[int, int],
    marker_radius: int,
    draw_ids: bool,
) -> np.ndarray:
    """One enlarged ``(H * fy, W * fx, 3)`` picture: grey image, outlines, centroid marks, ids."""
    from scipy import ndimage
    from skimage.segmentation import find_boundaries

    fy, fx = factors
    rgb = np.repeat(np.repeat(grey, fy, axis=0), fx, axis=1)[..., None].repeat(3, axis=-1)
    if labels is not None:
        enlarged = np.repeat(np.repeat(labels, fy, axis=0), fx, axis=1)
        outline = find_boundaries(enlarged, mode="inner")
        thickness = max(1, int(round(min(fy, fx) / 4)))
        if thickness > 1:
            outline = ndimage.binary_dilation(outline, iterations=thickness - 1) & (enlarged > 0)
        rgb[outline] = _OUTLINE_RGB
        if draw_ids:  # under the centroid marks, which sit near the centres and are drawn over them
            below = marker_radius + 2 if points is not None and len(points) else None
            _draw_ids(rgb, labels, factors, size=min(3, max(2, int(round(min(fy, fx) / 2)))), below=below)
    if points is not None and len(points):
        height, width = rgb.shape[:2]
        ys = np.floor((points[:, 0] + 0.5) * fy).astype(int)  # the pixel at the centre of the point's block
        xs = np.floor((points[:, 1] + 0.5) * fx).astype(int)
        for dy in range(-marker_radius, marker_radius + 1):
            for dx in range(-marker_radius, marker_radius + 1):
                rgb[np.clip(ys + dy, 0, height - 1), np.clip(xs + dx, 0, width - 1)] = _CENTROID_RGB
    return rgb


def overlay_projection(
    image: np.ndarray,
    instances: np.ndarray | None = None,
    centroids: np.ndarray | None = None,
    marker_radius: int | None = None,
    *,
    spacing: tuple[float, ...] | None = None,
    min_side: int | None = 512,
    max_side: int = 2048,
    side_views: bool = False,
    draw_ids: bool = True,
) -> np.ndarray:
    """Grey maximum projection of ``image`` with instance outlines (yellow), ids (cyan) and centroids (magenta).

    A small image is enlarged by whole factors (nearest neighbour, see :func:`overlay_scale`) so that
    the shorter side of its ``(Y, X)`` projection reaches ``min_side`` pixels, with square physical pixels;
    outlines are drawn on the enlarged grid (thicker with larger factors), each instance large enough
    to hold it gets its id written at its centre (just under it when centroids are marked).

    Args:
        image: ``(Z, Y, X)`` or ``(Y, X)`` intensities.
        instances: instance labels of the same shape, or None; outlines are drawn from the label
            image's maximum projection (the largest id wins where nuclei overlap in z).
        centroids: ``(N, 3)`` (z, y, x) or ``(N, 2)`` (y, x) voxel coordinates, or None.
        marker_radius: half width in picture pixels of the square centroid marks; None: the smaller
            in-plane factor (at least 2).
        spacing: voxel size per axis of ``image``, for square physical pixels; None: square voxels.
        min_side: wanted pixels on the shorter side of the ``(Y, X)`` projection; None or 0: no
            enlargement.
        max_side: enlargement stops before the longer side exceeds this.
        side_views: for a volume, add the maximum projections along y (below, z downwards) and along
            x (right, z rightwards), z enlarged to its voxel size, so the depth of nuclei shows.
        draw_ids: write instance ids into the ``(Y, X)`` projection.

    Returns:
        ``(H, W, 3)`` uint8 RGB picture: ``(Y * fy, X * fx)``, plus ``Z * fz`` and a gap on both
        sides with ``side_views``.
    """
    image = np.asarray(image)
    projection = max_projection(image)
    if instances is not None and np.shape(instances) != np.shape(image):
        raise ValueError(f"instances shape {np.shape(instances)} differs from image shape {np.shape(image)}.")
    with_sides = side_views and image.ndim == 3
    factors = overlay_scale(image.shape, spacing, min_side, max_side, side_views=with_sides)
    fy, fx = factors[-2:]
    radius = max(2, min(fy, fx)) if marker_radius is None else int(marker_radius)
    points = None if centroids is None or len(centroids) == 0 else np.asarray(centroids, dtype=np.float64)
    limits = _intensity_range(np.asarray(projection, dtype=np.float64), (1.0, 99.8))
    labels = None if instances is None else np.asarray(instances)
    if labels is not None and not np.issubdtype(labels.dtype, np.integer):
        labels = np.rint(labels).astype(np.int64)  # ids stored as floats, e.g. by a float tensor
    top = _panel(
        _scale_uint8(projection, limits),
        None if labels is None else max_projection(labels),
        None if points is None else points[:, -2:],
        (fy, fx),
        radius,
        draw_ids,
    )
    if not with_sides:
        return top
    fz = factors[0]
    # along y: (Z, X), z downwards under the (Y, X) projection; along x: (Z, Y) turned to (Y, Z) on its right
    below = _panel(
        _scale_uint8(image.max(axis=1), limits),
        None if labels is None else labels.max(axis=1),
        None if points is None else points[:, [0, 2]],
        (fz, fx),
        radius,
        False,
    )
    right = _panel(
        _scale_uint8(image.max(axis=2).T, limits),
        None if labels is None else labels.max(axis=2).T,
        None if points is None else points[:, [1, 0]],
        (fy, fz),
        radius,
        False,
    )
    height, width = top.shape[0] + _GAP + below.shape[0], top.shape[1] + _GAP + right.shape[1]
    picture = np.empty((height, width, 3), np.uint8)
    picture[...] = _GAP_RGB
    picture[: top.shape[0], : top.shape[1]] = top
    picture[top.shape[0] + _GAP :, : below.shape[1]] = below
    picture[: right.shape[0], top.shape[1] + _GAP :] = right
    return picture
