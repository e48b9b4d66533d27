from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tifffile

from cellbundles.io import decode_image, image_stem, read_image, read_labels, read_spacing, write_image

ANISOTROPIC = (2.0, 0.3, 0.15)


def _volume(dtype=np.uint16, shape=(5, 12, 9)):
    return np.random.default_rng(0).integers(0, 200, size=shape).astype(dtype)


@pytest.mark.parametrize("suffix", [".tif", ".tiff", ".ome.tif", ".nii", ".nii.gz"])
def test_3d_round_trip_with_anisotropic_spacing(tmp_path, suffix):
    volume = _volume()
    path = tmp_path / f"v{suffix}"
    write_image(path, volume, spacing=ANISOTROPIC)
    array, spacing = read_image(path)
    np.testing.assert_array_equal(array, volume)
    assert array.shape == (5, 12, 9)
    np.testing.assert_allclose(spacing, ANISOTROPIC, rtol=1e-6)
    np.testing.assert_allclose(read_spacing(path), ANISOTROPIC, rtol=1e-6)


@pytest.mark.parametrize("suffix", [".tif", ".ome.tiff", ".nii.gz"])
def test_2d_round_trip_with_spacing(tmp_path, suffix):
    image = _volume(np.float32, (7, 11))
    path = tmp_path / f"i{suffix}"
    write_image(path, image, spacing=(0.5, 0.25))
    array, spacing = read_image(path)
    np.testing.assert_array_equal(array, image)
    np.testing.assert_allclose(spacing, (0.5, 0.25), rtol=1e-6)


@pytest.mark.parametrize("suffix", [".tif", ".ome.tif", ".nii", ".png"])
def test_without_spacing_reads_none(tmp_path, suffix):
    image = _volume(np.uint8, (6, 10))
    path = tmp_path / f"i{suffix}"
    write_image(path, image)
    array, spacing = read_image(path)
    np.testing.assert_array_equal(array, image)
    assert spacing is None


def test_imagej_metadata_is_what_fiji_reads(tmp_path):
    path = tmp_path / "v.tif"
    write_image(path, _volume(), spacing=ANISOTROPIC)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_imagej
        metadata = tif.imagej_metadata
        assert metadata["unit"] == "micron"
        assert metadata["spacing"] == pytest.approx(2.0)
        assert metadata["slices"] == 5
        x_num, x_den = tif.pages[0].tags["XResolution"].value
        y_num, y_den = tif.pages[0].tags["YResolution"].value
    assert x_den / x_num == pytest.approx(0.15) and y_den / y_num == pytest.approx(0.3)


def test_ome_tiff_physical_sizes(tmp_path):
    path = tmp_path / "v.ome.tif"
    write_image(path, _volume(), spacing=ANISOTROPIC)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome
        xml = tif.ome_metadata
    for axis, value in zip("ZYX", ANISOTROPIC):
        assert f'PhysicalSize{axis}="{value}"' in xml


def test_ome_units_are_converted(tmp_path):
    path = tmp_path / "nm.ome.tif"
    tifffile.imwrite(
        path,
        _volume(),
        ome=True,
        metadata={
            "axes": "ZYX",
            "PhysicalSizeZ": 0.002,
            "PhysicalSizeZUnit": "mm",
            "PhysicalSizeY": 300.0,
            "PhysicalSizeYUnit": "nm",
            "PhysicalSizeX": 150.0,
            "PhysicalSizeXUnit": "nm",
        },
    )
    np.testing.assert_allclose(read_image(path)[1], ANISOTROPIC, rtol=1e-9)


@pytest.mark.parametrize("unit, factor", [("micron", 1.0), ("\\u00B5m", 1.0), ("nm", 1e-3), ("mm", 1e3), ("cm", 1e4)])
def test_imagej_units_are_converted(tmp_path, unit, factor):
    path = tmp_path / "v.tif"
    tifffile.imwrite(
        path,
        _volume(),
        imagej=True,
        resolution=(1 / 0.3, 1 / 0.15),
        metadata={"axes": "ZYX", "spacing": 2.0, "unit": unit},
    )
    np.testing.assert_allclose(read_image(path)[1], np.array([2.0, 0.15, 0.3]) * factor, rtol=1e-6)


def test_imagej_without_unit_or_pixel_unit_has_no_spacing(tmp_path):
    for unit in (None, "pixel"):
        metadata = {"axes": "ZYX", "spacing": 2.0} | ({"unit": unit} if unit else {})
        path = tmp_path / f"{unit}.tif"
        tifffile.imwrite(path, _volume(), imagej=True, resolution=(2.0, 2.0), metadata=metadata)
        assert read_image(path)[1] is None


def test_plain_tiff_pages_are_z_and_centimetre_resolution_is_used(tmp_path):
    volume = _volume()
    tifffile.imwrite(tmp_path / "pages.tif", volume)  # no ImageJ / OME metadata
    array, spacing = read_image(tmp_path / "pages.tif")
    np.testing.assert_array_equal(array, volume)
    assert spacing is None
    tifffile.imwrite(tmp_path / "cm.tif", volume[0], resolution=(1e4 / 0.5, 1e4 / 0.25), resolutionunit="CENTIMETER")
    np.testing.assert_allclose(read_image(tmp_path / "cm.tif")[1], (0.25, 0.5), rtol=1e-6)
    tifffile.imwrite(tmp_path / "dpi.tif", volume[0], resolution=(72, 72), resolutionunit="INCH")
    assert read_image(tmp_path / "dpi.tif")[1] is None


def test_singleton_axes_are_dropped(tmp_path):
    volume = _volume()
    tifffile.imwrite(tmp_path / "t.tif", volume[None, :, None], imagej=True, metadata={"axes": "TZCYX"})
    array, _ = read_image(tmp_path / "t.tif")
    np.testing.assert_array_equal(array, volume)


def test_rgb_images(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 255, size=(10, 12, 3), dtype=np.uint8)
    for suffix in (".png", ".tif"):
        write_image(tmp_path / f"rgb{suffix}", rgb)
        decoded = decode_image(tmp_path / f"rgb{suffix}")
        np.testing.assert_array_equal(decoded.array, rgb)
        assert decoded.rgb
    write_image(tmp_path / "rgb_s.tif", rgb, spacing=(0.5, 0.5))
    assert read_image(tmp_path / "rgb_s.tif")[1] == pytest.approx((0.5, 0.5))
    rgba_volume = np.zeros((3, 10, 12, 4), np.uint8)
    write_image(tmp_path / "rgba.tif", rgba_volume, spacing=ANISOTROPIC)
    assert decode_image(tmp_path / "rgba.tif").rgb
    grey_volume_with_three_columns = np.arange(5 * 6 * 3, dtype=np.uint16).reshape(5, 6, 3)
    write_image(tmp_path / "thin.tif", grey_volume_with_three_columns, spacing=ANISOTROPIC)
    decoded = decode_image(tmp_path / "thin.tif")
    assert not decoded.rgb and decoded.array.shape == (5, 6, 3)


def test_png_uint16_and_dtype_conversions(tmp_path):
    labels = np.array([[0, 1, 70000 // 2], [65535, 2, 3]], dtype=np.int64)
    write_image(tmp_path / "l.png", labels)
    array, _ = read_image(tmp_path / "l.png")
    assert array.dtype == np.uint16
    np.testing.assert_array_equal(array, labels)
    write_image(tmp_path / "f.tif", np.linspace(0, 1, 12).reshape(3, 4))
    assert read_image(tmp_path / "f.tif")[0].dtype == np.float32
    write_image(tmp_path / "b.tif", np.eye(4, dtype=bool))
    assert read_image(tmp_path / "b.tif")[0].dtype == np.uint8
    big = np.array([[0, 70000], [3, 1]], dtype=np.int64)
    write_image(tmp_path / "big.tif", big)
    labels_back, _ = read_labels(tmp_path / "big.tif")
    assert np.issubdtype(labels_back.dtype, np.integer)
    np.testing.assert_array_equal(labels_back, big)
    with pytest.raises(ValueError, match="big.png"):
        write_image(tmp_path / "big.png", big)
    with pytest.raises(ValueError, match="PNG holds 2D"):
        write_image(tmp_path / "v.png", _volume())


def test_read_labels_casts_whole_floats(tmp_path):
    tifffile.imwrite(tmp_path / "f.tif", np.array([[0.0, 1.0], [2.0, 300.0]], np.float32))
    labels, _ = read_labels(tmp_path / "f.tif")
    assert labels.dtype == np.uint16
    np.testing.assert_array_equal(labels, [[0, 1], [2, 300]])


def test_nifti_axis_convention(tmp_path):
    import nibabel

    volume = _volume()
    write_image(tmp_path / "v.nii.gz", volume, spacing=ANISOTROPIC)
    image = nibabel.load(tmp_path / "v.nii.gz")
    assert image.shape == (9, 12, 5)  # x, y, z
    assert image.header.get_zooms() == pytest.approx((0.15, 0.3, 2.0))
    assert image.header.get_xyzt_units()[0] == "micron"
    np.testing.assert_array_equal(np.asanyarray(image.dataobj)[2, 3, 4], volume[4, 3, 2])


def test_image_stem():
    assert image_stem("a/b/1135.ome.tif") == "1135"
    assert image_stem("x.y.nii.gz") == "x.y"
    assert image_stem("img2d.tif") == "img2d"


def test_importing_io_and_data_does_not_import_torch_or_monai():
    code = "import sys, cellbundles.io, cellbundles.data; print(sorted({'torch', 'monai'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
