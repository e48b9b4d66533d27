from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("monai")

from monai.bundle import ConfigParser  # noqa: E402
from monai.data import DataLoader, Dataset, MetaTensor  # noqa: E402
from monai.transforms import Compose, EnsureChannelFirstd, LoadImage, LoadImaged  # noqa: E402

from cellbundles.io import TiffReader, read_image, write_image  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
OVULE = SAMPLES / "gonuclear_ovule_3d" / "images" / "1135.tif"
OVULE_SPACING = (0.28372, 0.12679, 0.12679)


def test_load_imaged_gives_spacing_as_pixdim():
    data = Compose([LoadImaged(keys="image", reader=TiffReader()), EnsureChannelFirstd(keys="image")])({"image": OVULE})
    image = data["image"]
    assert isinstance(image, MetaTensor)
    assert tuple(image.shape) == (1, 100, 100, 100)
    np.testing.assert_allclose(image.pixdim, OVULE_SPACING, rtol=1e-4)
    np.testing.assert_allclose(image.meta["spacing"], OVULE_SPACING, rtol=1e-4)
    assert image.meta["spacing_known"] is True
    assert image.meta["filename_or_obj"] == str(OVULE)
    assert tuple(image.meta["spatial_shape"]) == (100, 100, 100)
    np.testing.assert_array_equal(image[0].numpy(), read_image(OVULE)[0])


def test_no_spacing_and_rgb_png():
    grey = LoadImage(reader=TiffReader(), ensure_channel_first=True)(SAMPLES / "stardist_testdata" / "img3d.tif")
    assert tuple(grey.shape) == (1, 31, 61, 57)
    assert grey.meta["spacing_known"] is False and tuple(grey.pixdim) == (1.0, 1.0, 1.0)
    png = sorted((SAMPLES / "dsb2018_stage1_train" / "images").glob("*.png"))[0]
    rgba = LoadImage(reader=TiffReader())(png)
    assert rgba.meta["original_channel_dim"] == -1 and rgba.shape[-1] == 4
    rgba = LoadImage(reader=TiffReader(), ensure_channel_first=True)(png)
    assert rgba.shape[0] == 4 and tuple(rgba.shape[1:]) == read_image(png)[0].shape[:2]
    assert len(rgba.pixdim) == 2


def test_2d_spacing_files_stacked_as_channels_and_batches(tmp_path):
    first, second = np.zeros((6, 8), np.uint16), np.ones((6, 8), np.uint16)
    write_image(tmp_path / "a.tif", first, spacing=(0.5, 0.25))
    write_image(tmp_path / "b.tif", second, spacing=(0.5, 0.25))
    stacked = LoadImage(reader=TiffReader(), ensure_channel_first=True)([tmp_path / "a.tif", tmp_path / "b.tif"])
    assert tuple(stacked.shape) == (2, 6, 8)
    np.testing.assert_allclose(stacked.pixdim, (0.5, 0.25))
    np.testing.assert_array_equal(stacked[1].numpy(), second)
    write_image(tmp_path / "c.tif", first, spacing=(0.5, 0.5))
    with pytest.raises(ValueError, match="same shape and spacing"):
        LoadImage(reader=TiffReader())([tmp_path / "a.tif", tmp_path / "c.tif"])
    transform = Compose([LoadImaged(keys="image", reader=TiffReader()), EnsureChannelFirstd(keys="image")])
    items = [{"image": str(tmp_path / name)} for name in ("a.tif", "b.tif")]
    batch = next(iter(DataLoader(Dataset(items, transform), batch_size=2, num_workers=0)))
    assert tuple(batch["image"].shape) == (2, 1, 6, 8)
    np.testing.assert_allclose(batch["image"].pixdim[1], (0.5, 0.25))


def test_reader_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_text("not a tiff")
    # LoadImage tries its other readers after ours and reports every reader's error in a RuntimeError
    with pytest.raises(RuntimeError, match="bad.tif: cannot read TIFF file"):
        LoadImage(reader=TiffReader())(bad)
    assert TiffReader().verify_suffix(["a.ome.tiff", "b.nii.gz", "c.png"])
    assert not TiffReader().verify_suffix(["a.tif", "b.jpg"])


@pytest.mark.parametrize(
    "reader",
    ["$cellbundles.io.TiffReader()", {"_target_": "cellbundles.io.TiffReader"}, "cellbundles.io.TiffReader"],
    ids=["expression", "target", "dotted-name"],
)
def test_reader_in_a_bundle_config(reader):
    config = {
        "imports": ["$import cellbundles"],
        "preprocessing": {
            "_target_": "Compose",
            "transforms": [
                {"_target_": "LoadImaged", "keys": "image", "reader": reader},
                {"_target_": "EnsureChannelFirstd", "keys": "image"},
            ],
        },
    }
    parser = ConfigParser(config)
    image = parser.get_parsed_content("preprocessing")({"image": str(OVULE)})["image"]
    assert tuple(image.shape) == (1, 100, 100, 100)
    np.testing.assert_allclose(image.pixdim, OVULE_SPACING, rtol=1e-4)


def test_reader_refuses_what_it_is_told_not_to_accept(tmp_path):
    write_image(tmp_path / "rgb.png", np.zeros((8, 8, 3), np.uint8), rgb=True)
    write_image(tmp_path / "stack.tif", np.zeros((4, 8, 8), np.uint16), (1.0, 0.5, 0.5))
    write_image(tmp_path / "pixel.tif", np.zeros((1, 8), np.uint16))
    with pytest.raises(ValueError, match=r"rgb.png: expected a single-channel"):
        TiffReader(color=False).read(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match=r"stack.tif: expected a 2D image"):
        TiffReader(spatial_dims=2).read(tmp_path / "stack.tif")
    with pytest.raises(ValueError, match=r"pixel.tif: the image is too small"):
        TiffReader(min_size=2).read(tmp_path / "pixel.tif")
    array, meta = TiffReader(spatial_dims=3, color=False).get_data(TiffReader().read(tmp_path / "stack.tif"))
    assert array.shape == (4, 8, 8) and meta["source_dtype"] == "uint16"
