from __future__ import annotations

import numpy as np
import pytest

from cellbundles.visualize import label_colors, max_projection, overlay_projection, overlay_scale, to_uint8

YELLOW = (255, 220, 0)
MAGENTA = (255, 0, 255)
CYAN = (0, 255, 255)
NATIVE = {"min_side": None, "draw_ids": False}
"""Options of an overlay at the input's own size, without ids: pixel-exact checks of the drawing."""


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
    rgb = overlay_projection(image, instances, np.array([[2.0, 15.2, 4.8]]), marker_radius=1, **NATIVE)
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
    rgb = overlay_projection(image, **NATIVE)
    assert rgb.shape == (8, 10, 3)
    np.testing.assert_array_equal(rgb[..., 0], to_uint8(image))
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    marked = overlay_projection(image, centroids=np.array([[0.0, 9.0]]), marker_radius=2, **NATIVE)
    assert np.all(marked == MAGENTA, axis=-1).sum() == 9
    assert tuple(marked[0, 9]) == MAGENTA and tuple(marked[2, 7]) == MAGENTA
    np.testing.assert_array_equal(overlay_projection(image, centroids=np.zeros((0, 2)), **NATIVE), rgb)


def test_overlay_shape_mismatch():
    with pytest.raises(ValueError, match=r"instances shape \(4, 4\) differs from image shape \(5, 5\)"):
        overlay_projection(np.zeros((5, 5)), np.zeros((4, 4), int))
    with pytest.raises(ValueError, match="expected a"):
        overlay_projection(np.zeros((2, 2, 2, 2)))


def test_overlay_scale_square_pixels_and_limits():
    assert overlay_scale((100, 100)) == (6, 6)  # 600 x 600: the shorter side reaches 512
    assert overlay_scale((256, 320)) == (2, 2)
    assert overlay_scale((100, 100), min_side=None) == (1, 1) and overlay_scale((100, 100), min_side=0) == (1, 1)
    assert overlay_scale((1000, 1200)) == (1, 1)  # large already: never shrunk
    assert overlay_scale((10, 1000)) == (2, 2)  # a thin strip stops at max_side on its long side
    assert overlay_scale((10, 1000), max_side=1500) == (1, 1)
    # in-plane anisotropy: y pixels twice as large as x pixels get twice the factor (square pixels in um)
    fy, fx = overlay_scale((50, 100), spacing=(1.0, 0.5))
    assert 1.0 / fy == 0.5 / fx and min(50 * fy, 100 * fx) >= 512
    # a volume: z counts only with side views, and then its factor makes z voxels square too
    fz, fy, fx = overlay_scale((20, 60, 80), spacing=(2.0, 0.5, 0.5), side_views=True)
    assert fy == fx and fz == 4 * fy
    assert min(60 * fy, 80 * fx) >= 512 and max(60 * fy + 6 + 20 * fz, 80 * fx + 6 + 20 * fz) <= 2048
    # a deep volume: the side views take the room, the (Y, X) projection stops short of 512
    fz, fy, fx = overlay_scale((200, 40, 40), spacing=(1.0, 0.5, 0.5), side_views=True)
    assert (fz, fy, fx) == (8, 4, 4) and 40 * fy + 6 + 200 * fz <= 2048
    assert overlay_scale((20, 60, 80), spacing=(2.0, 0.5, 0.5))[1:] == overlay_scale((60, 80))
    with pytest.raises(ValueError, match="overlay spacing must hold 1 or 2 positive values"):
        overlay_scale((10, 10), spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"\(Y, X\) or \(Z, Y, X\) shape"):
        overlay_scale((10,))


def test_small_image_overlay_is_enlarged_with_readable_outlines_marks_and_ids():
    """A 100 x 100 crop is drawn at 600 x 600 pixels (not 100 x 100): blocks of 6 x 6 per input pixel."""
    rng = np.random.default_rng(1)
    image = rng.uniform(size=(100, 100))
    instances = np.zeros((100, 100), np.int32)
    instances[10:30, 10:30] = 7
    instances[50:70, 40:90] = 12
    rgb = overlay_projection(image, instances, np.array([[20.0, 20.0]]))
    assert rgb.shape == (600, 600, 3) and min(rgb.shape[:2]) >= 512
    # nearest-neighbour enlargement: each input pixel is a uniform 6 x 6 block of its grey value
    grey = to_uint8(image)
    np.testing.assert_array_equal(rgb[90:96, 0:6, 0], np.full((6, 6), grey[15, 0]))
    np.testing.assert_array_equal(rgb[::6, ::6, 1][instances == 0][:50], grey[instances == 0][:50])
    # outlines two pixels thick on the border of each nucleus, inside it; nothing outside
    outline = np.all(rgb == YELLOW, axis=-1)
    assert outline[60, 60:180].all() and outline[61, 60:180].all() and not outline[62, 70:110].any()
    assert not outline[59, 60:180].any() and not outline[:, :55].any()
    # the centroid mark grows with the enlargement: 13 x 13 pixels around the centre of voxel (20, 20)
    marks = np.all(rgb == MAGENTA, axis=-1)
    assert marks.sum() == 13 * 13 and marks[123, 123] and marks[117:130, 117:130].all()
    # ids in cyan, written under the centre of each nucleus large enough to hold them
    ids = np.all(rgb == CYAN, axis=-1)
    assert ids[120:180, 60:180].any() and ids[360:420, 240:540].any()
    assert ids.sum() == np.all(rgb == CYAN, axis=-1)[60:420, 60:540].sum()
    assert not np.all(overlay_projection(image, instances, draw_ids=False) == CYAN, axis=-1).any()
    # without centroid marks the id sits on the centre: rows 360 +- 7.5 for nucleus 12 (rows 50-69 of the input)
    plain_ids = np.all(overlay_projection(image, instances) == CYAN, axis=-1)
    rows = np.flatnonzero(plain_ids[300:420, 240:540].any(axis=1)) + 300
    assert rows.min() >= 352 and rows.max() <= 368
    # ids stored as floats draw the same picture
    np.testing.assert_array_equal(overlay_projection(image, instances.astype(np.float32), np.array([[20.0, 20.0]])), rgb)


def test_large_image_overlay_keeps_its_size():
    image = np.zeros((700, 900))
    assert overlay_projection(image).shape == (700, 900, 3)


def test_volume_overlay_with_side_views_at_the_voxel_size():
    """The z side views are stretched by the z voxel size: a 2 um deep slice is 4 times a 0.5 um pixel."""
    image = np.zeros((10, 40, 50), np.float32)
    instances = np.zeros(image.shape, np.int32)
    instances[2:8, 10:20, 10:30] = 1  # 12 um deep, 5 um high, 10 um wide
    image[instances > 0] = 1.0
    rgb = overlay_projection(image, instances, np.array([[5.0, 15.0, 20.0]]), spacing=(2.0, 0.5, 0.5), side_views=True)
    fz, fy, fx = overlay_scale(image.shape, (2.0, 0.5, 0.5), side_views=True)
    assert fz == 4 * fy and fy == fx
    assert rgb.shape == (40 * fy + 6 + 10 * fz, 50 * fx + 6 + 10 * fz, 3) and min(40 * fy, 50 * fx) >= 512
    below = rgb[40 * fy + 6 :, : 50 * fx]  # projection along y: rows are z
    right = rgb[: 40 * fy, 50 * fx + 6 :]  # projection along x: columns are z
    # the nucleus spans 6 slices: 6 * fz pixels of depth in both side views, i.e. 12 um at the 0.5 um pixel
    bright_rows = np.flatnonzero((below[:, 20 * fx, 0] == 255) | np.all(below[:, 20 * fx] == YELLOW, axis=-1))
    assert bright_rows.min() == 2 * fz and bright_rows.max() == 8 * fz - 1
    bright_columns = np.flatnonzero((right[15 * fy, :, 0] == 255) | np.all(right[15 * fy] == YELLOW, axis=-1))
    assert bright_columns.min() == 2 * fz and bright_columns.max() == 8 * fz - 1
    # the centroid is marked in all three views
    assert tuple(below[int(5.5 * fz), int(20.5 * fx)]) == MAGENTA and tuple(right[int(15.5 * fy), int(5.5 * fz)]) == MAGENTA
    # without side views: only the (Y, X) projection, enlarged alike
    flat = overlay_projection(image, instances, spacing=(2.0, 0.5, 0.5))
    assert flat.shape == (*(n * f for n, f in zip((40, 50), overlay_scale((40, 50)))), 3)
