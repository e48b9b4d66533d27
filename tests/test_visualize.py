from __future__ import annotations

import numpy as np
import pytest

from cellbundles.visualize import label_colors, max_projection, overlay_projection, to_uint8

YELLOW = (255, 220, 0)
MAGENTA = (255, 0, 255)


def test_max_projection():
    volume = np.zeros((3, 4, 5), np.float32)
    volume[0, 1, 1] = 2.0
    volume[2, 1, 1] = 5.0
    volume[1, 3, 4] = 1.0
    projection = max_projection(volume)
    assert projection.shape == (4, 5) and projection.dtype == np.float32
    assert projection[1, 1] == 5.0 and projection[3, 4] == 1.0 and projection.sum() == 6.0
    image = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(max_projection(image), image)
    for shape in [(5,), (1, 2, 3, 4)]:
        with pytest.raises(ValueError, match=r"\(Y, X\) image or a \(Z, Y, X\) volume"):
            max_projection(np.zeros(shape))


def test_to_uint8_percentile_scaling():
    image = np.arange(101, dtype=np.float64).reshape(1, 101)
    full = to_uint8(image, percentiles=(0.0, 100.0))
    assert full.dtype == np.uint8 and full.shape == image.shape
    assert full[0, 0] == 0 and full[0, -1] == 255 and full[0, 50] == 128
    clipped = to_uint8(image, percentiles=(10.0, 90.0))
    assert (clipped[0, :11] == 0).all() and (clipped[0, 90:] == 255).all()
    assert clipped[0, 50] == 128
    # a single outlier does not wash out the image with the default percentiles
    spiky = np.tile(np.linspace(0, 1, 1000), (2, 1))
    spiky[0, 0] = 1e6
    assert to_uint8(spiky)[1, 500] > 100


def test_to_uint8_constant_and_non_finite():
    assert (to_uint8(np.full((3, 3), 7.0)) == 0).all()
    assert (to_uint8(np.full((2, 2), np.nan)) == 0).all()
    image = np.array([[0.0, 1.0], [np.nan, np.inf]])
    scaled = to_uint8(image, percentiles=(0.0, 100.0))
    assert scaled.tolist() == [[0, 255], [0, 255]]


def test_label_colors():
    labels = np.array([[0, 1], [2, 1]])
    colors = label_colors(labels)
    assert colors.shape == (2, 2, 3) and colors.dtype == np.uint8
    assert tuple(colors[0, 0]) == (0, 0, 0)
    np.testing.assert_array_equal(colors[0, 1], colors[1, 1])
    assert (colors[0, 1] >= 64).all() and (colors[1, 0] >= 64).all()
    np.testing.assert_array_equal(label_colors(labels, seed=0), colors)
    assert (label_colors(np.zeros((2, 2), int)) == 0).all()


def test_overlay_outlines_and_centroids_3d():
    image = np.zeros((4, 20, 20), np.float32)
    image[:, 5:15, 5:15] = 1.0
    instances = np.zeros(image.shape, np.int32)
    instances[1:3, 4:10, 4:10] = 1
    instances[2, 12:18, 12:18] = 2
    rgb = overlay_projection(image, instances, np.array([[2.0, 15.2, 4.8]]), marker_radius=1)
    assert rgb.shape == (20, 20, 3) and rgb.dtype == np.uint8
    outline = np.all(rgb == YELLOW, axis=-1)
    expected = np.zeros((20, 20), bool)
    expected[4:10, 4:10] = True
    expected[5:9, 5:9] = False
    expected[12:18, 12:18] = True
    expected[13:17, 13:17] = False
    np.testing.assert_array_equal(outline, expected)
    marks = np.all(rgb == MAGENTA, axis=-1)
    assert marks.sum() == 9 and marks[14:17, 4:7].all()
    # grey elsewhere: the bright square is white, the background black
    assert tuple(rgb[11, 11]) == (255, 255, 255) and tuple(rgb[0, 19]) == (0, 0, 0)


def test_overlay_2d_without_annotations_and_marks_at_the_border():
    image = np.random.default_rng(0).uniform(size=(8, 10))
    rgb = overlay_projection(image)
    assert rgb.shape == (8, 10, 3)
    np.testing.assert_array_equal(rgb[..., 0], to_uint8(image))
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    marked = overlay_projection(image, centroids=np.array([[0.0, 9.0]]), marker_radius=2)
    assert np.all(marked == MAGENTA, axis=-1).sum() == 9
    assert tuple(marked[0, 9]) == MAGENTA and tuple(marked[2, 7]) == MAGENTA
    np.testing.assert_array_equal(overlay_projection(image, centroids=np.zeros((0, 2))), rgb)


def test_overlay_shape_mismatch():
    with pytest.raises(ValueError, match=r"instances shape \(4, 4\) differs from image shape \(5, 5\)"):
        overlay_projection(np.zeros((5, 5)), np.zeros((4, 4), int))
    with pytest.raises(ValueError, match="expected a"):
        overlay_projection(np.zeros((2, 2, 2, 2)))
