from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cellbundles.synth.utils import (
    LabelCanvas,
    StarEllipsoid,
    check_range,
    check_shape,
    check_spacing,
    instance_contour,
    label_centroids,
    place_randomly,
    place_touching,
    random_rotations,
    sample_star_ellipsoid,
    simulate_acquisition,
)


def _sphere(centre, radius, spatial_dims=3):
    return StarEllipsoid(
        centre=np.asarray(centre, dtype=float),
        semi_axes=np.full(spatial_dims, float(radius)),
        rotation=np.eye(spatial_dims),
        wave_vectors=np.zeros((0, spatial_dims)),
        wave_phases=np.zeros(0),
        wave_amplitudes=np.zeros(0),
    )


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_random_rotations_are_proper_rotations(spatial_dims):
    rotations = random_rotations(np.random.default_rng(0), 500, spatial_dims)
    assert rotations.shape == (500, spatial_dims, spatial_dims)
    identity = np.broadcast_to(np.eye(spatial_dims), rotations.shape)
    np.testing.assert_allclose(rotations @ np.swapaxes(rotations, 1, 2), identity, atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-12)


def test_random_rotations_are_uniform():
    rotations = random_rotations(np.random.default_rng(1), 4000, 3)
    # the image of any fixed axis is uniform on the sphere: zero mean, second moments 1/3 on each axis
    for axis in range(3):
        rotated = rotations[:, :, axis]
        assert np.linalg.norm(rotated.mean(axis=0)) < 0.05
        np.testing.assert_allclose((rotated**2).mean(axis=0), 1.0 / 3.0, atol=0.03)
    assert not np.allclose(rotations[0], rotations[1])


def test_rasterized_ellipsoid_volume_and_anisotropic_extent():
    shape = sample_star_ellipsoid(np.random.default_rng(2), 3, (3.0, 5.0))
    spacing = (1.0, 0.5, 0.25)
    lo, mask, complete = shape.moved_to([30, 60, 120]).rasterize(spacing, (60, 120, 240))
    assert complete
    expected = 4.0 / 3.0 * np.pi * np.prod(shape.semi_axes) / np.prod(spacing)
    assert abs(mask.sum() - expected) / expected < 0.03

    sphere = _sphere([20, 20, 20], 4.0)
    _, mask, _ = sphere.rasterize((1.0, 0.5, 0.5), (40, 40, 40))
    extent = [np.ptp(np.nonzero(mask)[axis]) + 1 for axis in range(3)]
    assert extent[0] in (8, 9) and extent[1] in (16, 17) and extent[2] in (16, 17)


def test_irregular_outline_stays_within_its_bounds():
    shape = sample_star_ellipsoid(np.random.default_rng(3), 2, (6.0, 6.0), irregularity=0.2).moved_to([30, 30])
    lo, mask, complete = shape.rasterize((1.0, 1.0), (60, 60))
    assert complete and shape.irregularity == pytest.approx(0.2)
    ys, xs = np.nonzero(mask)
    distance = np.hypot(ys + lo[0] - 30, xs + lo[1] - 30)
    assert distance.max() <= 6.0 * 1.2 + 1e-9
    assert distance.max() > 6.0 * 1.02  # the outline does bulge beyond the circle somewhere
    # a circle of radius 6 * 0.8 lies inside whatever the perturbation
    yy, xx = np.mgrid[:60, :60]
    full = np.zeros((60, 60), dtype=bool)
    full[lo[0] : lo[0] + mask.shape[0], lo[1] : lo[1] + mask.shape[1]] = mask
    assert full[np.hypot(yy - 30, xx - 30) <= 6.0 * 0.8 - 1e-9].all()


def test_rasterize_clips_at_the_image_border():
    lo, mask, complete = _sphere([1, 1], 4.0, 2).rasterize((1.0, 1.0), (20, 20))
    assert not complete and tuple(lo) == (0, 0) and mask.any()
    _, mask, complete = _sphere([-50, -50], 4.0, 2).rasterize((1.0, 1.0), (20, 20))
    assert not complete and not mask.any()


def test_canvas_gap_and_touching_placement():
    rng = np.random.default_rng(4)
    canvas = LabelCanvas((40, 40), (1.0, 1.0))
    first = _sphere([20, 20], 5.0, 2)
    lo, mask, _ = first.rasterize(canvas.spacing, (40, 40))
    assert canvas.add(lo, mask) == 1
    assert canvas.labels_near(lo, mask) == {1}
    second = place_touching(canvas, _sphere([0, 0], 4.0, 2), [first], rng)
    assert second is not None and canvas.count == 2
    labels = canvas.labels
    assert (labels == 2).sum() == pytest.approx(np.pi * 16, rel=0.2)
    face = ndimage.generate_binary_structure(2, 1)
    assert (ndimage.binary_dilation(labels == 2, structure=face) & (labels == 1)).any()
    # an object that cannot fit anywhere is refused rather than overlapping
    assert place_randomly(canvas, _sphere([0, 0], 30.0, 2), rng, max_attempts=5) is None
    assert canvas.count == 2


def test_instance_contour_matches_binary_boundary_and_separates_touching_objects():
    labels = np.zeros((12, 20), dtype=np.uint16)
    labels[2:8, 2:8] = 1
    labels[2:8, 8:14] = 2
    labels[9:12, 15:20] = 3  # touches the image border
    contour = instance_contour(labels)
    assert contour.dtype == np.uint8
    binary = labels > 0
    face = ndimage.generate_binary_structure(2, 1)
    binary_boundary = binary & ~ndimage.binary_erosion(binary, structure=face, border_value=0)
    # the contact column between objects 1 and 2 is boundary of both; everything else is the binary boundary
    assert contour[4, 7] == 1 and contour[4, 8] == 1 and not binary_boundary[4, 7]
    separated = labels.copy()
    separated[:, 8] = 0
    separated_contour = instance_contour(separated)
    separated_binary = separated > 0
    expected = separated_binary & ~ndimage.binary_erosion(separated_binary, structure=face, border_value=0)
    np.testing.assert_array_equal(separated_contour.astype(bool), expected)
    assert contour[11, 19] == 1 and contour[10, 17] == 0


def test_label_centroids_matches_center_of_mass():
    labels = np.zeros((5, 30, 30), dtype=np.uint16)
    labels[1:4, 2:9, 3:5] = 1
    labels[0:2, 20:29, 10:30] = 3
    centroids = label_centroids(labels, 3)
    expected = ndimage.center_of_mass(labels > 0, labels, [1, 3])
    np.testing.assert_allclose(centroids[[0, 2]], np.asarray(expected))
    assert np.isnan(centroids[1]).all()
    assert label_centroids(labels, 0).shape == (0, 3)


def test_simulate_acquisition_blur_background_and_noise():
    phantom = np.zeros((64, 64), dtype=np.float32)
    phantom[20:40, 20:40] = 1.0
    rng = np.random.default_rng(5)
    clean = simulate_acquisition(rng, phantom, 2.0, 0.1, None, 0.0)
    assert clean.dtype == np.float32
    np.testing.assert_allclose(clean, ndimage.gaussian_filter(phantom, 2.0, mode="nearest") + 0.1, atol=1e-6)
    flat = np.full((200, 200), 0.4, dtype=np.float32)
    noisy = simulate_acquisition(rng, flat, 0.0, 0.1, 100.0, 0.0)
    assert noisy.mean() == pytest.approx(0.5, abs=0.005)
    assert noisy.var() == pytest.approx(0.5 / 100.0, rel=0.05)  # Poisson: variance = mean / photons
    read = simulate_acquisition(rng, flat, 0.0, 0.0, None, 0.05)
    assert read.std() == pytest.approx(0.05, rel=0.05)


def test_argument_checks():
    assert check_shape([4, 5], 2) == (4, 5)
    assert check_spacing(0.5, 3) == (0.5, 0.5, 0.5)
    assert check_range("r", (1, 2)) == (1.0, 2.0)
    with pytest.raises(ValueError, match="shape"):
        check_shape((4, 5), 3)
    with pytest.raises(ValueError, match="spacing"):
        check_spacing((1.0, -1.0, 1.0), 3)
    with pytest.raises(ValueError, match="radius"):
        check_range("radius", (3, 2))
    with pytest.raises(ValueError, match="spatial_dims"):
        random_rotations(np.random.default_rng(0), 1, 4)
