from __future__ import annotations

import nibabel
import numpy as np
import pytest
import tifffile

from cellbundles.io import read_image, read_labels, read_spacing, validate_image, validate_pair, write_image


def _raises_naming(path, match, function=read_image):
    with pytest.raises(ValueError, match=match) as error:
        function(path)
    assert str(path) in str(error.value)


def test_truncated_tiff(tmp_path):
    good = tmp_path / "good.tif"
    write_image(good, np.ones((4, 32, 32), np.uint16), spacing=(1.0, 0.5, 0.5))
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(good.read_bytes()[:-1000])
    _raises_naming(truncated, "cannot read TIFF")
    header_only = tmp_path / "header_only.tif"
    header_only.write_bytes(good.read_bytes()[:6])
    _raises_naming(header_only, "cannot read TIFF")
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.ones((64, 64), np.uint16))  # one page: its header, then the pixel data
    cut_pixels = tmp_path / "cut_pixels.tif"
    cut_pixels.write_bytes(plain.read_bytes()[:-100])
    _raises_naming(cut_pixels, "truncated")


@pytest.mark.parametrize("name", ["image.png", "image.nii.gz", "image.nii"])
def test_truncated_png_and_nifti(tmp_path, name):
    good = tmp_path / f"good_{name}"
    write_image(good, np.random.default_rng(0).integers(0, 255, size=(64, 64), dtype=np.uint8))
    truncated = tmp_path / name
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    _raises_naming(truncated, "cannot read")


def test_text_file_named_as_images(tmp_path):
    for name in ("notes.tif", "notes.png", "notes.nii.gz"):
        path = tmp_path / name
        path.write_text("this is not an image\n")
        _raises_naming(path, "cannot read")
        if not name.endswith(".png"):
            _raises_naming(path, "cannot read", read_spacing)


def test_unsupported_suffix_and_missing_file(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8")
    _raises_naming(tmp_path / "a.jpg", "unsupported image file type")
    with pytest.raises(FileNotFoundError, match="nothing.tif"):
        read_image(tmp_path / "nothing.tif")
    with pytest.raises(FileNotFoundError, match="nothing.tif"):
        read_labels(tmp_path / "nothing.tif")


@pytest.mark.parametrize("shape", [(7,), (2, 3, 4, 5)])
def test_wrong_number_of_dimensions(tmp_path, shape):
    path = tmp_path / "wrong.nii"
    nibabel.save(nibabel.Nifti1Image(np.ones(shape, np.float32), np.eye(4)), path)
    _raises_naming(path, "expected a 2D or 3D image")


def test_time_series_and_two_channels_are_refused(tmp_path):
    tifffile.imwrite(tmp_path / "t.tif", np.zeros((3, 4, 8, 8), np.uint8), imagej=True, metadata={"axes": "TZYX"})
    _raises_naming(tmp_path / "t.tif", "axis 'T'")
    tifffile.imwrite(tmp_path / "c.tif", np.zeros((4, 2, 8, 8), np.uint8), imagej=True, metadata={"axes": "ZCYX"})
    _raises_naming(tmp_path / "c.tif", "2 channels")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf(tmp_path, bad):
    image = np.ones((3, 8, 8), np.float32)
    image[1, 2, 3] = bad
    path = tmp_path / "nonfinite.tif"
    tifffile.imwrite(path, image)
    _raises_naming(path, "NaN" if np.isnan(bad) else "infinite")
    with pytest.raises(ValueError, match="out.tif"):
        write_image(tmp_path / "out.tif", image)
    assert not (tmp_path / "out.tif").exists()


def test_empty_image(tmp_path):
    path = tmp_path / "empty.nii"
    nibabel.save(nibabel.Nifti1Image(np.zeros((0, 4, 4), np.float32), np.eye(4)), path)
    _raises_naming(path, "empty")
    with pytest.raises(ValueError, match="empty"):
        validate_image(np.zeros((0, 5)), "x.tif")


def test_labels_must_be_whole_non_negative_single_channel(tmp_path):
    tifffile.imwrite(tmp_path / "frac.tif", np.array([[0.0, 1.5]], np.float32))
    _raises_naming(tmp_path / "frac.tif", "non-integer", read_labels)
    tifffile.imwrite(tmp_path / "neg.tif", np.array([[0, -1]], np.int16))
    _raises_naming(tmp_path / "neg.tif", ">= 0", read_labels)
    write_image(tmp_path / "rgb.png", np.zeros((4, 4, 3), np.uint8))
    _raises_naming(tmp_path / "rgb.png", "single-channel", read_labels)


def test_validate_image_and_pair_messages():
    validate_image(np.zeros((4, 5, 3), np.uint8), "rgb.png", spatial_dims=2)
    with pytest.raises(ValueError, match="vol.tif.*expected a 3D image"):
        validate_image(np.zeros((4, 5)), "vol.tif", spatial_dims=3)
    with pytest.raises(ValueError, match="data type"):
        validate_image(np.array([["a"]]), "s.tif")
    validate_pair(np.zeros((4, 5, 3)), np.zeros((4, 5), np.uint16), "img.png", "lab.png")
    with pytest.raises(ValueError, match=r"lab.tif.*\(4, 6\).*\(4, 5\).*img.tif"):
        validate_pair(np.zeros((4, 5)), np.zeros((4, 6)), "img.tif", "lab.tif")


def test_bad_spacing_on_write(tmp_path):
    with pytest.raises(ValueError, match="spacing"):
        write_image(tmp_path / "a.tif", np.zeros((3, 4, 4), np.uint8), spacing=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        write_image(tmp_path / "a.tif", np.zeros((3, 4, 4), np.uint8), spacing=(1.0, 1.0, 1.0, 1.0), rgb=False)
    assert list(tmp_path.iterdir()) == []


def test_validate_image_min_size_and_channel_hint():
    validate_image(np.zeros((2, 37)), "line.tif", min_size=2)
    with pytest.raises(ValueError, match=r"pixel.tif: the image is too small, shape \(1, 1\); at least 2"):
        validate_image(np.zeros((1, 1)), "pixel.tif", min_size=2)
    with pytest.raises(ValueError, match=r"two.tif: expected a 2D image \(Y, X\).*\(48, 48, 2\).*channel axis"):
        validate_image(np.zeros((48, 48, 2)), "two.tif", spatial_dims=2)
