"""StrictLoadImaged, CheckLabelsd and ReportInputd: what a bundle reads, checked at load time."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tifffile

from cellbundles.io import write_image
from cellbundles.transforms import CheckLabelsd, ReportInputd, StrictLoadImaged


def test_strict_load_keeps_the_readers_message(tmp_path):
    # LoadImaged(reader=TiffReader()) falls back to PIL, which reads one 8 x 8 plane of this file
    tifffile.imwrite(tmp_path / "five_d.tif", np.zeros((4, 8, 8, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"five_d.tif: cannot map the TIFF axes"):
        StrictLoadImaged("image", spatial_dims=2)({"image": str(tmp_path / "five_d.tif")})
    write_image(tmp_path / "rgb.png", np.zeros((8, 8, 3), np.uint8), rgb=True)
    with pytest.raises(ValueError, match=r"rgb.png: expected a single-channel"):
        StrictLoadImaged("image", color=False)({"image": str(tmp_path / "rgb.png")})
    write_image(tmp_path / "pixel.tif", np.zeros((1, 1), np.uint16))
    with pytest.raises(ValueError, match=r"pixel.tif: the image is too small"):
        StrictLoadImaged("image")({"image": str(tmp_path / "pixel.tif")})
    loaded = StrictLoadImaged("image", spatial_dims=2)({"image": str(tmp_path / "rgb.png")})["image"]
    assert tuple(loaded.shape) == (3, 8, 8)


def _pair(tmp_path, labels: np.ndarray, rgb: bool = False) -> dict:
    write_image(tmp_path / "image.tif", np.zeros((6, 8), np.uint16))
    write_image(tmp_path / "label.tif", labels, rgb=rgb)
    keys = ["image", "label"]
    return StrictLoadImaged(keys)({"image": str(tmp_path / "image.tif"), "label": str(tmp_path / "label.tif")})


def test_check_labels(tmp_path):
    CheckLabelsd("label")(_pair(tmp_path, np.ones((6, 8), np.uint16)))
    with pytest.raises(ValueError, match=r"label.tif: label shape \(6, 7\) does not match.*image.tif"):
        CheckLabelsd("label")(_pair(tmp_path, np.ones((6, 7), np.uint16)))
    with pytest.raises(ValueError, match=r"label.tif: labels must hold whole numbers"):
        CheckLabelsd("label")(_pair(tmp_path, np.full((6, 8), 0.5, np.float32)))
    with pytest.raises(ValueError, match=r"label \(.*label.tif\) must be a one-channel image"):
        CheckLabelsd("label")(_pair(tmp_path, np.zeros((6, 8, 3), np.uint8), rgb=True))


def test_report_input(tmp_path, caplog):
    write_image(tmp_path / "odd.nii.gz", np.full((37, 53), 7.0), (0.5, 0.25))
    data = StrictLoadImaged("image")({"image": str(tmp_path / "odd.nii.gz")})
    with caplog.at_level(logging.INFO, logger="cellbundles.transforms.inputs"), pytest.warns(UserWarning) as warned:
        ReportInputd("image", roi_size=(64, 32))(data)
    assert "odd.nii.gz: 37 x 53 voxels of float64, voxel size 0.5 x 0.25 um." in caplog.text
    messages = [str(warning.message) for warning in warned]
    assert any("odd.nii.gz: constant image" in message for message in messages)
    assert any("odd.nii.gz: 37 x 53 voxels at the network's input, smaller than the network's 64 x 32" in message
               for message in messages)  # fmt: skip


def test_report_input_names_the_padding_of_a_whole_image_network(tmp_path, caplog):
    write_image(tmp_path / "odd.tif", np.arange(37 * 53, dtype=np.uint16).reshape(37, 53), (0.5, 0.5))
    data = StrictLoadImaged("image")({"image": str(tmp_path / "odd.tif")})
    with caplog.at_level(logging.INFO, logger="cellbundles.transforms.inputs"):
        ReportInputd("image", roi_size=(32, 32), size_divisible=32)(data)
    assert "odd.tif: padded from 37 x 53 to 64 x 64 voxels at the network's input (a multiple of 32)." in caplog.text
    caplog.clear()
    write_image(tmp_path / "even.tif", np.arange(32 * 64, dtype=np.uint16).reshape(32, 64), (0.5, 0.5))
    data = StrictLoadImaged("image")({"image": str(tmp_path / "even.tif")})
    with caplog.at_level(logging.INFO, logger="cellbundles.transforms.inputs"):
        ReportInputd("image", roi_size=(32, 32), size_divisible=32)(data)
    assert "padded" not in caplog.text
