"""Domain-randomised 3D nucleus phantoms: size, shape, density, sampling, optics, signal and camera are drawn anew
for every volume (and every nucleus), so that a model trained on them meets the nuclei of real microscopes
(issue 11; docs/design.md, "Generalisation").

References:
    - Tobin et al., "Domain randomization for transferring deep neural networks from simulation to the real world",
      IROS 2017: train on renderings whose nuisance parameters are randomised well beyond the real ones.
    - The geometry and the imaging model are those of :func:`cellbundles.synth.nuclei.nuclei3d` (BBBC024, seed 001).

Per-volume parameters: every one is drawn from the default below unless the keyword of the same name fixes it
(``randomised_nuclei3d(seed, photons=25, anisotropy=6)``); ``U`` is uniform, ``logU`` log-uniform, ``e`` the
elongation, ``a`` a nucleus's axis ratio, ``r_mean`` the middle of ``radius_um`` and ``s_xy`` the xy voxel size. All
of them come back in ``params``.

================== ============================================ ===================================================
keyword            default draw                                 meaning
================== ============================================ ===================================================
elongation         U(1, 2)                                      largest axis ratio: a nucleus has longest / shortest
                                                                semi-axis a ~ U(1, elongation)
radius_um          (r_mean (1 - s), r_mean (1 + s)),            range of the nucleus radius r = sqrt(longest *
                   s ~ U(0, 0.25), r_mean ~ logU over           shortest semi-axis); a nucleus has semi-axes
                   [1.5 sqrt(e) / (1 - s), 10 / (sqrt(e)(1+s))] r a^(1/2), r a^v, r a^(-1/2), v ~ U(-1/2, 1/2),
                                                                so with the defaults all lie in 1.5-10 um; a scalar
                                                                fixes one radius, a pair a range
irregularity       U(0, 0.2)                                    outline perturbation of the star ellipsoids
diameter_px        logU(6, 40)                                  2 r_mean in xy voxels: s_xy = 2 r_mean / diameter_px
anisotropy         U(1, 6)                                      z step / xy step
spacing            (anisotropy s_xy, s_xy, s_xy)                voxel size (z, y, x) in um; fixing it replaces
                                                                diameter_px and anisotropy (then derived)
packing            U(0.02, 0.7)                                 target volume fraction of nuclei: nuclei are drawn
                                                                until their volume reaches it; those that do not fit
                                                                are left out (``packing_achieved``)
touching_fraction  U(0, 0.8)                                    chance that a nucleus is placed against another
intensity_min      U(0.25, 1)                                   nucleus brightness U(intensity_min, 1)
mitotic_fraction   U(0, 0.15)                                   chance that a nucleus is mitotic: radius pulled to
                                                                r_lo + U(0, 0.5)(r - r_lo), brightness x U(2, 4)
texture            U(0, 0.4)                                    relative amplitude of smooth intra-nuclear texture
texture_um         U(0.3, 1.5)                                  its correlation length (um)
nucleoli           integer U{0..3}                              most nucleoli per nucleus; each has U{0..nucleoli},
                                                                spheres of radius U(0.15, 0.3) r
nucleolus_contrast U(-0.6, 1)                                   relative intensity inside nucleoli (< 0 dim)
psf_sigma_xy_um    s_xy U(0.5, 2)                               lateral sigma of the Gaussian PSF (um)
psf_axial_ratio    U(1.5, 4)                                    axial / lateral PSF sigma (both in um)
haze               U(0, 0.5)                                    weight of the out-of-focus haze, a heavily blurred
                                                                copy of the nuclei added to them
haze_sigma_um      r_mean U(2, 4)                               lateral sigma of that blur (axial: x
                                                                psf_axial_ratio)
gradient           U(0, 0.5)                                    depth of a slow multiplicative illumination field
                                                                (linear ramp + vignetting, from 1 - gradient to 1)
background         U(0, 0.3)                                    offset before shot noise, in nucleus brightness
photons            logU(10, 1000)                               expected photo-electrons at brightness 1 (Poisson)
read_noise         U(0.5, 4)                                    Gaussian read noise, electrons
dtype              uint8 or uint16, 1/2 each                    camera output type
offset             uint8: U(0, 20); uint16: U(50, 500)          camera offset, ADU
gain               uint8: fill (255 - offset) / p99.9 of the    ADU per electron; pixels above the dtype's
                   electrons; uint16: logU(0.5, 4)              maximum saturate
fill               U(0.5, 1)                                    uint8: share of the range the gain fills
cut_border         True or False, 1/2 each                      nuclei may cross the image border (their centre is
                                                                inside), else every nucleus lies inside
semi_axes_um       None                                         a (min, max) pair: each semi-axis of every nucleus
                                                                is drawn from U(min, max) instead of the radius /
                                                                axis-ratio draw above (seed 001, Eq. 1)
orientation        "random"                                     "random": uniform over SO(3); "aligned": the
                                                                semi-axes lie along z, y, x
================== ============================================ ===================================================

The field of view is ``shape_um`` (z, y, x) when given, else 128 xy voxels wide and as deep as the largest of 0.375
of that width, twice the largest nucleus and 16 z steps. Its voxel count is capped at ``max_voxels`` (48 x 128 x 128)
and at the volume that about 800 nuclei fill at the target packing, by shrinking every axis alike, though never
below what the largest possible nucleus needs. ``shape`` fixes the voxel shape instead (no cap).

Placement (largest first): a nucleus is pressed against a placed one with probability ``touching_fraction``,
overlapping it by 5-30 % of their centre distance, the overlap going to whichever is nearer in normalised radius
(a flattened contact, as in crowded tissue); the others are placed at random at least a voxel apart until that
fails, then pressed against whatever they meet. So volumes with ``packing`` above ~0.3 are crowded whatever
``touching_fraction``; nuclei that find no room are left out, and the achieved packing (``packing_achieved``)
follows the target up to about 0.55-0.6 with whole nuclei and 0.7 with ``cut_border``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from cellbundles.synth.utils import (
    LabelCanvas,
    SeedLike,
    StarEllipsoid,
    band_limited_noise,
    check_range,
    check_shape,
    check_spacing,
    instance_contour,
    label_centroids,
    place_randomly,
    sample_star_ellipsoid,
    shape_marker,
    simulate_acquisition,
)

__all__ = ["randomised_nuclei3d", "PARAMETER_RANGES", "SEMI_AXES_RANGE_UM", "MAX_VOXELS"]

PARAMETER_RANGES: dict[str, tuple[float, float]] = {
    "elongation": (1.0, 2.0),
    "irregularity": (0.0, 0.2),
    "diameter_px": (6.0, 40.0),
    "anisotropy": (1.0, 6.0),
    "packing": (0.02, 0.7),
    "touching_fraction": (0.0, 0.8),
    "intensity_min": (0.25, 1.0),
    "mitotic_fraction": (0.0, 0.15),
    "texture": (0.0, 0.4),
    "texture_um": (0.3, 1.5),
    "nucleoli": (0, 3),
    "nucleolus_contrast": (-0.6, 1.0),
    "psf_axial_ratio": (1.5, 4.0),
    "haze": (0.0, 0.5),
    "gradient": (0.0, 0.5),
    "background": (0.0, 0.3),
    "photons": (10.0, 1000.0),
    "read_noise": (0.5, 4.0),
    "fill": (0.5, 1.0),
}
"""Default draw of each scalar per-volume parameter (see the module docstring for the derived ones)."""

_LOG_UNIFORM = {"diameter_px", "photons"}
_RADIUS_SPREAD = (0.0, 0.25)
_PSF_PER_VOXEL = (0.5, 2.0)  # lateral PSF sigma in xy voxels
_HAZE_PER_RADIUS = (2.0, 4.0)
_OFFSET = {"uint8": (0.0, 20.0), "uint16": (50.0, 500.0)}
_UINT16_GAIN = (0.5, 4.0)
_NUCLEOLUS_PER_RADIUS = (0.15, 0.3)
_MITOTIC_BRIGHTNESS = (2.0, 4.0)
SEMI_AXES_RANGE_UM = (1.5, 10.0)
"""Every semi-axis lies in this range (um) when ``radius_um`` and ``elongation`` are drawn."""
MAX_VOXELS = 48 * 128 * 128
"""Default cap on the voxel count of a volume."""

# Values a fixed keyword may take: (low, high), both inclusive.
_POSITIVE = float(np.finfo(float).tiny)
_LIMITS: dict[str, tuple[float, float]] = {
    "elongation": (1.0, np.inf),
    "irregularity": (0.0, 0.95),
    "diameter_px": (_POSITIVE, np.inf),
    "anisotropy": (_POSITIVE, np.inf),
    "packing": (0.0, 0.95),
    "touching_fraction": (0.0, 1.0),
    "intensity_min": (0.0, 1.0),
    "mitotic_fraction": (0.0, 1.0),
    "texture": (0.0, np.inf),
    "texture_um": (_POSITIVE, np.inf),
    "nucleoli": (0, 20),
    "nucleolus_contrast": (-1.0, np.inf),
    "psf_sigma_xy_um": (0.0, np.inf),
    "psf_axial_ratio": (_POSITIVE, np.inf),
    "haze": (0.0, np.inf),
    "haze_sigma_um": (_POSITIVE, np.inf),
    "gradient": (0.0, 1.0),
    "background": (0.0, np.inf),
    "photons": (_POSITIVE, np.inf),
    "read_noise": (0.0, np.inf),
    "fill": (_POSITIVE, np.inf),
    "gain": (_POSITIVE, np.inf),
    "offset": (0.0, 65535.0),
}
_OTHER_KEYWORDS = ("radius_um", "spacing", "dtype", "cut_border", "semi_axes_um", "orientation")
_ORIENTATIONS = ("random", "aligned")
_ATTEMPTS = 20  # placement attempts per nucleus and way
_MAX_NUCLEI = 800  # the field shrinks so that about this many nuclei reach the target packing
_WORK = 4000.0  # placement stops after this many attempts, one counting 1 + (voxels examined) / 10^4 (~3 s)
_PRESS_OVERLAP = (0.05, 0.3)
_PRESS_KEEP = 0.6
_PRESS_TAKE = 0.3


def _check_fixed(fixed: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the fixed keywords; return them with scalars as floats, ``radius_um`` as a pair."""
    unknown = set(fixed) - set(_LIMITS) - set(_OTHER_KEYWORDS)
    if unknown:
        raise TypeError(
            f"randomised_nuclei3d: unknown keyword(s) {sorted(unknown)}; "
            f"the parameters are {sorted([*_LIMITS, *_OTHER_KEYWORDS])}."
        )
    checked: dict[str, Any] = {}
    for name, value in fixed.items():
        if name in ("radius_um", "semi_axes_um"):
            pair = np.broadcast_to(np.asarray(value, dtype=float), (2,)) if np.ndim(value) == 0 else value
            checked[name] = check_range(f"randomised_nuclei3d: {name}", pair, _POSITIVE)
        elif name == "orientation":
            if value not in _ORIENTATIONS:
                raise ValueError(f"randomised_nuclei3d: orientation must be one of {_ORIENTATIONS}, got {value!r}.")
            checked[name] = value
        elif name == "spacing":
            checked[name] = check_spacing(value, 3)
        elif name == "cut_border":
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"randomised_nuclei3d: cut_border must be True or False, got {value!r}.")
            checked[name] = bool(value)
        elif name == "dtype":
            if np.dtype(value).name not in _OFFSET:
                raise ValueError(f"randomised_nuclei3d: dtype must be uint8 or uint16, got {value}.")
            checked[name] = np.dtype(value).name
        else:
            checked[name] = check_range(f"randomised_nuclei3d: {name}", (value, value), *_LIMITS[name])[0]
    if "nucleoli" in checked:
        checked["nucleoli"] = int(checked["nucleoli"])
    if "spacing" in checked and {"diameter_px", "anisotropy"} & set(checked):
        raise ValueError("randomised_nuclei3d: fix either spacing or diameter_px / anisotropy, not both.")
    return checked


def _draw(rng: np.random.Generator, low: float, high: float, log: bool = False) -> float:
    """One draw from U(low, high), or log-uniform; the stream advances by one number either way."""
    unit = rng.uniform()
    if log:
        return float(np.exp(np.log(low) + unit * (np.log(high) - np.log(low))))
    return float(low + unit * (high - low))


def _draw_parameters(rng: np.random.Generator, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """Every per-volume parameter except the camera gain (which needs the image); ``fixed`` ones are kept.

    Each parameter consumes the same random numbers whether or not it is fixed, so fixing one leaves the others as
    they were for the same seed.
    """
    params: dict[str, Any] = {}
    for name, (low, high) in PARAMETER_RANGES.items():
        value = _draw(rng, low, high + 1 if name == "nucleoli" else high, name in _LOG_UNIFORM)
        params[name] = fixed.get(name, int(value) if name == "nucleoli" else value)
    elongation_factor = np.sqrt(params["elongation"])
    spread = _draw(rng, *_RADIUS_SPREAD)
    low = SEMI_AXES_RANGE_UM[0] * elongation_factor / (1.0 - spread)
    high = max(SEMI_AXES_RANGE_UM[1] / (elongation_factor * (1.0 + spread)), low)
    radius_mean = _draw(rng, low, high, log=True)
    params["radius_um"] = fixed.get("radius_um", (radius_mean * (1.0 - spread), radius_mean * (1.0 + spread)))
    radius_mean = 0.5 * sum(params["radius_um"])
    if "spacing" in fixed:
        params["spacing"] = fixed["spacing"]
        params["anisotropy"] = params["spacing"][0] / params["spacing"][1]
        params["diameter_px"] = 2.0 * radius_mean / params["spacing"][1]
    else:
        xy = 2.0 * radius_mean / params["diameter_px"]
        params["spacing"] = (params["anisotropy"] * xy, xy, xy)
    params["psf_sigma_xy_um"] = fixed.get("psf_sigma_xy_um", params["spacing"][1] * _draw(rng, *_PSF_PER_VOXEL))
    params["haze_sigma_um"] = fixed.get("haze_sigma_um", radius_mean * _draw(rng, *_HAZE_PER_RADIUS))
    params["dtype"] = fixed.get("dtype", "uint16" if rng.uniform() < 0.5 else "uint8")
    params["offset"] = fixed.get("offset", _draw(rng, *_OFFSET[params["dtype"]]))
    params["gain"] = fixed.get("gain", _draw(rng, *_UINT16_GAIN, log=True) if params["dtype"] == "uint16" else None)
    params["cut_border"] = fixed.get("cut_border", bool(rng.uniform() < 0.5))
    params["semi_axes_um"] = fixed.get("semi_axes_um")
    params["orientation"] = fixed.get("orientation", "random")
    return params


def _field_shape(
    params: Mapping[str, Any], shape_um: Sequence[float] | None, max_voxels: int
) -> tuple[int, ...]:
    """Voxel shape of the field of view (see the module docstring)."""
    spacing = params["spacing"]
    low, high = params["radius_um"]
    nucleus_voxels = 4.0 / 3.0 * np.pi * (0.5 * (low + high)) ** 3 / float(np.prod(spacing))
    max_voxels = min(max_voxels, _MAX_NUCLEI * nucleus_voxels / max(params["packing"], 1e-3))
    largest_um = 2.0 * high * np.sqrt(params["elongation"]) * (1.0 + params["irregularity"])
    if shape_um is None:
        width = 128 * spacing[1]
        depth = max(0.375 * width, 2.0 * largest_um, 16 * spacing[0])
        shape_um = (depth, width, width)
    shape = np.maximum(np.round(np.asarray(shape_um, dtype=float) / np.asarray(spacing)), 1)
    if np.prod(shape) > max_voxels:
        fits_one = np.minimum(np.ceil(largest_um / np.asarray(spacing)) + 3, shape)
        shape = np.maximum(np.floor(shape * (max_voxels / np.prod(shape)) ** (1 / 3)), fits_one)
    return tuple(int(s) for s in shape)


def _draw_nucleus(
    rng: np.random.Generator, params: Mapping[str, Any], mitotic: bool
) -> tuple[StarEllipsoid, float]:
    """A star ellipsoid at the origin with semi-axes ``r a^(1/2), r a^v, r a^(-1/2)`` (or each from U(``semi_axes_um``)
    when that is fixed), oriented at random or along the axes (``orientation``); returns it and its radius ``r`` (um,
    the geometric mean of the semi-axes in the second case)."""
    low, high = params["radius_um"]
    radius = rng.uniform(low, high)
    if mitotic:
        radius = low + rng.uniform(0.0, 0.5) * (radius - low)
    ratio = rng.uniform(1.0, params["elongation"])
    exponents = np.array([0.5, rng.uniform(-0.5, 0.5), -0.5])
    shape = sample_star_ellipsoid(rng, 3, (radius, radius), params["irregularity"])
    semi_axes = radius * ratio**exponents
    if params["semi_axes_um"] is not None:
        semi_axes = rng.uniform(*params["semi_axes_um"], size=3)
        radius = float(np.prod(semi_axes) ** (1.0 / 3.0))
    rotation = np.eye(3) if params["orientation"] == "aligned" else shape.rotation
    return dataclasses.replace(shape, semi_axes=semi_axes, rotation=rotation), float(radius)


def _surface_distance(nucleus: StarEllipsoid, direction: np.ndarray) -> float:
    """Distance (um) from the centre to the ellipsoid's surface along the unit ``direction`` (outline waves aside)."""
    body = nucleus.rotation.T @ direction
    return float(1.0 / np.sqrt(np.sum((body / nucleus.semi_axes) ** 2)))


class _PressedCanvas(LabelCanvas):
    """A :class:`LabelCanvas` that also keeps, per voxel, the normalised radius of the nucleus holding it, so that a
    nucleus pressed into others takes the voxels nearer to its own centre (relative to its size) than to theirs:
    overlapping nuclei end up touching along a flattened interface, as in crowded tissue."""

    def __init__(self, shape: Sequence[int], spacing: Sequence[float], cut_border: bool) -> None:
        super().__init__(shape, spacing)
        self.depth = np.full(self.labels.shape, np.inf, dtype=np.float32)
        self.sizes = [0]
        self.dented: set[int] = set()
        self.cut_border = cut_border

    def record(self, nucleus: StarEllipsoid) -> None:
        """Store the normalised radius and voxel count of the last label, placed by :func:`place_randomly`."""
        lo, hi = nucleus.clipped_box(self.spacing, self.labels.shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        mine = self.labels[box] == self.count
        self.depth[box][mine] = nucleus.normalized_radius(lo, hi, self.spacing)[mine]
        self.sizes.append(int(mine.sum()))

    def press(self, nucleus: StarEllipsoid, centre: np.ndarray) -> tuple[StarEllipsoid | None, int]:
        """One attempt to place ``nucleus`` at ``centre`` (voxels), taking the voxels of others that lie nearer to
        its centre than to theirs (in normalised radius). Rejected when its centre voxel is outside the image or
        taken, when it crosses the border unless ``cut_border``, when it keeps under 60 % of its own voxels or takes
        over 30 % of another's.

        Returns:
            the placed nucleus or None, and the number of voxels examined.
        """
        candidate = nucleus.moved_to(centre)
        voxel = np.round(centre).astype(int)
        if np.any(voxel < 0) or np.any(voxel >= self.labels.shape) or self.labels[tuple(voxel)]:
            return None, 0
        lo, hi = candidate.clipped_box(self.spacing, self.labels.shape)
        if not self.cut_border and not np.array_equal((lo, hi), candidate.bounding_box(self.spacing)):
            return None, 0
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        radius = candidate.normalized_radius(lo, hi, self.spacing)
        inside = radius <= 1.0
        wins = inside & (radius < self.depth[box])
        taken, counts = np.unique(self.labels[box][wins], return_counts=True)
        sizes = np.asarray(self.sizes)[taken]
        overtaken = np.any((taken > 0) & (counts > _PRESS_TAKE * sizes))
        if not wins.any() or wins.sum() < _PRESS_KEEP * inside.sum() or overtaken:
            return None, radius.size
        for label, count in zip(taken[taken > 0], counts[taken > 0]):
            self.sizes[label] -= int(count)
            self.dented.add(int(label))
        self.dented.add(self.add(lo, wins))
        self.depth[box][wins] = radius[wins]
        self.sizes.append(int(wins.sum()))
        return candidate, radius.size

    def drop_fragments(self) -> None:
        """Keep only the largest face-connected piece of every nucleus that pressing cut (rarely) into several."""
        boxes = ndimage.find_objects(self.labels)
        for label in sorted(self.dented):
            region = self.labels[boxes[label - 1]]
            pieces, count = ndimage.label(region == label)
            if count > 1:
                largest = 1 + int(np.argmax(np.bincount(pieces.ravel())[1:]))
                region[(pieces > 0) & (pieces != largest)] = 0


def _contact_centre(
    rng: np.random.Generator, nucleus: StarEllipsoid, partner: StarEllipsoid, spacing: Sequence[float]
) -> np.ndarray:
    """A centre (voxels) for ``nucleus`` in a random direction from ``partner``, their ellipsoids overlapping by
    U(5, 30) % of the centre distance."""
    direction = rng.standard_normal(3)
    direction /= max(float(np.linalg.norm(direction)), 1e-12)
    reach = _surface_distance(partner, direction) + _surface_distance(nucleus, -direction)
    return partner.centre + reach * (1.0 - rng.uniform(*_PRESS_OVERLAP)) * direction / np.asarray(spacing)


def _place_nuclei(
    rng: np.random.Generator, params: Mapping[str, Any], shape: Sequence[int]
) -> tuple[np.ndarray, list[StarEllipsoid], np.ndarray, np.ndarray, int]:
    """Fill the field with nuclei up to ``packing`` of its volume.

    In rounds: draw nuclei until their volume makes up what the placed ones lack, and place them largest first:
    with probability ``touching_fraction`` pressed against a placed one (:class:`_PressedCanvas`), else at random
    with no other within a voxel (:func:`place_randomly`) or, once a nucleus found no room for that, at random
    pressed against whatever it meets. A nucleus that finds no room is left out. Rounds stop at the target, when a
    round places nothing, or after a fixed amount of work (attempts weighted by their box size), which bounds the
    time.

    Returns:
        the labels, the placed nuclei (label ``i + 1``), their radii (um), whether each is mitotic, and the number
        of nuclei drawn.
    """
    spacing = params["spacing"]
    voxel_volume = float(np.prod(spacing))
    target = params["packing"] * float(np.prod(shape))
    canvas = _PressedCanvas(shape, spacing, params["cut_border"])
    placed, radii, mitotic_flags = [], [], []
    budget, n_drawn, room, jammed = _WORK, 0, int(np.iinfo(canvas.labels.dtype).max), False
    while budget > 0 and sum(canvas.sizes) < target and n_drawn < room:
        drawn, volume = [], float(sum(canvas.sizes))
        while volume < target and n_drawn + len(drawn) < room:
            mitotic = bool(rng.uniform() < params["mitotic_fraction"])
            nucleus, radius = _draw_nucleus(rng, params, mitotic)
            drawn.append((nucleus, radius, mitotic))
            volume += 4.0 / 3.0 * np.pi * float(np.prod(nucleus.semi_axes)) / voxel_volume
        drawn.sort(key=lambda item: -float(np.prod(item[0].semi_axes)))
        n_drawn, n_placed = n_drawn + len(drawn), len(placed)
        for nucleus, radius, mitotic in drawn:
            touching = bool(placed) and rng.uniform() < params["touching_fraction"]
            margin = np.zeros(3) if params["cut_border"] else np.ceil(nucleus.half_extent(spacing))
            if np.any(2 * margin > np.array(shape) - 1):
                continue  # larger than the field
            for attempt in range(2 * _ATTEMPTS):
                if budget <= 0:
                    break
                if touching:
                    partner = placed[int(rng.integers(len(placed)))]
                    result, work = canvas.press(nucleus, _contact_centre(rng, nucleus, partner, spacing))
                elif jammed or attempt >= _ATTEMPTS:
                    jammed = True
                    result, work = canvas.press(nucleus, rng.uniform(margin, np.array(shape) - 1 - margin))
                else:
                    result = place_randomly(canvas, nucleus, rng, 1, 1, inside=not params["cut_border"])
                    work = float(np.prod(2 * nucleus.half_extent(spacing) + 3))
                    if result is not None:
                        canvas.record(result)
                budget -= 1.0 + work / 1e4
                if result is not None:
                    placed.append(result)
                    radii.append(radius)
                    mitotic_flags.append(mitotic)
                    break
        if len(placed) == n_placed:
            break
    canvas.drop_fragments()
    return canvas.labels, placed, np.asarray(radii, dtype=float), np.asarray(mitotic_flags, dtype=bool), n_drawn


def _add_nucleoli(
    rng: np.random.Generator,
    phantom: np.ndarray,
    labels: np.ndarray,
    placed: Sequence[StarEllipsoid],
    radii: np.ndarray,
    params: Mapping[str, Any],
) -> None:
    """Scale the intensity by ``1 + nucleolus_contrast`` inside U{0..nucleoli} spheres per nucleus (in place)."""
    spacing = np.asarray(params["spacing"])
    for label, (nucleus, radius) in enumerate(zip(placed, radii), start=1):
        count = int(rng.integers(0, params["nucleoli"] + 1))
        if count == 0:
            continue
        lo, hi = nucleus.clipped_box(spacing, labels.shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        inside = labels[box] == label
        grid = np.meshgrid(*[np.arange(a, b) * s for a, b, s in zip(lo, hi, spacing)], indexing="ij", sparse=True)
        for _ in range(count):
            direction = rng.standard_normal(3)
            direction *= rng.uniform(0.0, 0.5) / max(float(np.linalg.norm(direction)), 1e-12)
            centre = nucleus.centre * spacing + nucleus.rotation @ (direction * nucleus.semi_axes)
            spot_radius = rng.uniform(*_NUCLEOLUS_PER_RADIUS) * radius
            spot = sum((g - c) ** 2 for g, c in zip(grid, centre)) <= spot_radius**2
            phantom[box][spot & inside] *= 1.0 + params["nucleolus_contrast"]


def _fourier_blur(volume: np.ndarray, sigma: Sequence[float]) -> np.ndarray:
    """Gaussian blur of ``sigma`` voxels per axis through the FFT (periodic borders; fast for wide kernels)."""
    spectrum = ndimage.fourier_gaussian(np.fft.rfftn(volume), sigma, n=volume.shape[-1])
    return np.fft.irfftn(spectrum, s=volume.shape).astype(np.float32)


def _illumination(rng: np.random.Generator, shape: Sequence[int], depth: float) -> np.ndarray:
    """Slow multiplicative field from ``1 - depth`` to 1: a random linear ramp mixed with a random vignetting bump."""
    axes = np.meshgrid(*[np.linspace(-1.0, 1.0, n) for n in shape], indexing="ij", sparse=True)
    direction = rng.standard_normal(len(shape))
    centre = rng.uniform(-1.0, 1.0, size=len(shape))
    weight = rng.uniform()
    ramp = sum(d * a for d, a in zip(direction, axes))
    bump = sum((a - c) ** 2 for a, c in zip(axes, centre))
    field = weight * ramp + (1.0 - weight) * bump + np.zeros(tuple(shape))
    span = float(field.max() - field.min())
    field = (field - field.min()) / span if span > 0 else np.zeros_like(field)
    return (1.0 - depth * field).astype(np.float32)


def _camera(electrons: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """ADU = round(gain * electrons + offset), clipped to the dtype; sets ``params["gain"]`` for uint8."""
    maximum = float(np.iinfo(params["dtype"]).max)
    if params["gain"] is None:
        peak = max(float(np.percentile(electrons, 99.9)), 1.0)
        params["gain"] = params["fill"] * (maximum - params["offset"]) / peak
    counts = np.round(params["gain"] * electrons + params["offset"])
    return np.clip(counts, 0, maximum).astype(params["dtype"])


def randomised_nuclei3d(
    seed: SeedLike = 0,
    shape_um: Sequence[float] | None = None,
    *,
    shape: Sequence[int] | None = None,
    max_voxels: int = MAX_VOXELS,
    **fixed: Any,
) -> dict:
    """Domain-randomised synthetic 3D fluorescence volume of nuclei with its ground truth.

    Draws every per-volume parameter of the module docstring's table (those given as keywords are fixed), then per
    nucleus its radius, axis ratio, orientation, outline, brightness, mitotic state and nucleoli. The image is
    ``camera(Poisson(photons * (blur_psf(field * (n + haze * blur_haze(n))) + background)) + N(0, read_noise^2))``
    with ``n`` the nuclei's intensities (brightness, texture, nucleoli) and ``field`` the illumination.

    Parameters, nuclei, appearance and noise draw from separate streams of the seed, and a fixed parameter still
    consumes its random numbers, so fixing one changes only what depends on it: ``photons=20`` and ``photons=1000``
    image the same nuclei with different noise, while fixing ``elongation`` rescales the drawn ``radius_um`` and
    anything that changes the spacing or the field of view moves the nuclei.

    Args:
        seed: anything ``numpy.random.default_rng`` accepts; the same seed (and keywords) gives the same volume.
        shape_um: field of view ``(z, y, x)`` in um; default: see the module docstring.
        shape: voxel shape ``(Z, Y, X)``, replacing ``shape_um`` and ``max_voxels``.
        max_voxels: cap on the voxel count when ``shape`` is not given.
        fixed: per-volume parameters to fix (module docstring), e.g. ``radius_um=(3, 5.5), packing=0.3,
            photons=25, anisotropy=6, elongation=1.5, dtype="uint8"``.

    Returns:
        dict with
            - ``image``: uint8 or uint16 ``(Z, Y, X)``;
            - ``labels``: uint16 ``(Z, Y, X)``, nuclei ``1..N`` (largest first), 0 background;
            - ``centroids``: float ``(N, 3)``, centre of mass of each label in voxels; ``centroids_um`` times spacing;
            - ``semi_axes_um``: float ``(N, 3)``, semi-axes before rotation;
            - ``binary``, ``contour``, ``shapemarker``: uint8 ``(Z, Y, X)`` as in :func:`nuclei3d`;
            - ``spacing``: the voxel size ``(z, y, x)`` in um;
            - ``params``: JSON-serialisable dict of every per-volume parameter (``radius_um`` and ``spacing`` as
              lists; ``psf_sigma_um``, ``psf_sigma_voxels`` and ``haze_sigma_voxels`` per axis), plus ``shape``,
              ``n_drawn`` (nuclei drawn for the target packing), ``n_nuclei`` (in the image), ``n_mitotic`` and
              ``packing_achieved`` (fraction of the image's voxels inside nuclei).

    Raises:
        TypeError: for an unknown keyword.
        ValueError: for a fixed value outside what the model allows, or ``shape`` and ``shape_um`` both given.
    """
    fixed = _check_fixed(fixed)
    if shape is not None and shape_um is not None:
        raise ValueError("randomised_nuclei3d: give shape (voxels) or shape_um, not both.")
    if shape_um is not None and (np.shape(shape_um) != (3,) or not np.all(np.asarray(shape_um, dtype=float) > 0)):
        raise ValueError(f"randomised_nuclei3d: shape_um must be 3 positive sizes (z, y, x) in um, got {shape_um}.")
    if max_voxels < 1:
        raise ValueError(f"randomised_nuclei3d: max_voxels must be positive, got {max_voxels}.")
    param_rng, geometry_rng, appearance_rng, noise_rng = np.random.default_rng(seed).spawn(4)
    params = _draw_parameters(param_rng, fixed)
    spacing = params["spacing"]
    if shape is None:
        shape = _field_shape(params, shape_um, max_voxels)
    shape = check_shape(shape, 3)
    labels, placed, radii, mitotic, n_drawn = _place_nuclei(geometry_rng, params, shape)
    n_nuclei = len(placed)
    brightness = appearance_rng.uniform(params["intensity_min"], 1.0, size=n_nuclei)
    brightness[mitotic] *= appearance_rng.uniform(*_MITOTIC_BRIGHTNESS, size=int(mitotic.sum()))
    phantom = np.concatenate([[0.0], brightness]).astype(np.float32)[labels]
    texture_sigma = params["texture_um"] / np.asarray(spacing)
    phantom *= np.maximum(1.0 + params["texture"] * band_limited_noise(appearance_rng, shape, texture_sigma), 0.0)
    _add_nucleoli(appearance_rng, phantom, labels, placed, radii, params)
    axial = np.array([params["psf_axial_ratio"], 1.0, 1.0])
    haze_sigma = params["haze_sigma_um"] * axial / np.asarray(spacing)
    phantom += params["haze"] * _fourier_blur(phantom, haze_sigma)
    phantom *= _illumination(appearance_rng, shape, params["gradient"])

    psf_sigma_um = params["psf_sigma_xy_um"] * axial
    psf_sigma = psf_sigma_um / np.asarray(spacing)
    image = simulate_acquisition(
        noise_rng, phantom, psf_sigma, params["background"], params["photons"], params["read_noise"] / params["photons"]
    )
    image = _camera(image * np.float32(params["photons"]), params)

    semi_axes = np.array([n.semi_axes for n in placed]).reshape(n_nuclei, 3)
    centroids = label_centroids(labels, n_nuclei)
    params.update(
        radius_um=[float(r) for r in params["radius_um"]],
        semi_axes_um=None if params["semi_axes_um"] is None else [float(r) for r in params["semi_axes_um"]],
        spacing=[float(s) for s in spacing],
        psf_sigma_um=psf_sigma_um.tolist(),
        psf_sigma_voxels=psf_sigma.tolist(),
        haze_sigma_voxels=haze_sigma.tolist(),
        shape=list(shape),
        n_drawn=n_drawn,
        n_nuclei=n_nuclei,
        n_mitotic=int(mitotic.sum()),
        packing_achieved=float(np.count_nonzero(labels)) / float(np.prod(shape)),
    )
    return {
        "image": image,
        "labels": labels,
        "centroids": centroids,
        "centroids_um": centroids * np.asarray(spacing),
        "semi_axes_um": semi_axes,
        "binary": (labels > 0).astype(np.uint8),
        "contour": instance_contour(labels),
        "shapemarker": shape_marker(labels, semi_axes),
        "spacing": tuple(float(s) for s in spacing),
        "params": {key: float(value) if isinstance(value, np.floating) else value for key, value in params.items()},
    }
