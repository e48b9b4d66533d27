"""Transforms of the nuclei_recyclegan_3d bundle (issue 15): phantoms on the fly, paired targets, 64^3 crops."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import ndimage
from monai.data import MetaTensor

from cellbundles.io import read_image, write_image
from cellbundles.transforms import GANPhantomd, NucleusContrastd, PairedTargetsd, SavePairedCropsd, write_pairs_datalist


def _volume(array: np.ndarray, spacing=(2.0, 1.0, 1.0), name: str = "/data/cells.tif") -> MetaTensor:
    affine = torch.diag(torch.tensor([*spacing, 1.0], dtype=torch.float64))
    return MetaTensor(torch.as_tensor(array)[None], affine=affine, meta={"filename_or_obj": name})


def test_phantoms_take_the_real_volumes_spacing_and_differ_per_item():
    transform = GANPhantomd("phantom", shape=(6, 24, 24), semi_axes_um=(2.0, 3.0))
    transform.set_random_state(0)
    item = {"image": _volume(np.zeros((6, 24, 24), np.float32), spacing=(1.5, 0.5, 0.5))}
    first, second = transform(item)["phantom"], transform(item)["phantom"]
    assert first.shape == (1, 6, 24, 24) and first.min() >= -1 and first.max() <= 1 and first.max() > 0
    assert torch.diag(first.affine)[:3].tolist() == [1.5, 0.5, 0.5]
    assert not torch.equal(first, second)


def test_paired_targets_of_instance_labels_and_of_a_binary_mask():
    labels = np.zeros((8, 20, 20), np.uint16)
    labels[2:5, 2:8, 2:8], labels[2:6, 10:18, 12:15] = 3, 7  # a 6 um cube; an 8 x 8 x 3 um box
    out = PairedTargetsd("label")({"label": _volume(labels)})
    np.testing.assert_array_equal(out["instances"][0], labels)
    assert out["image"].shape == (1, 8, 20, 20) and out["image"].min() >= -1 and out["image"].max() <= 1
    marker = out["shapemarker"][0].numpy()
    assert marker[3, 4, 4] == 255 and marker[4, 14, 13] == round(255 * 3 / 8) and not marker[labels == 0].any()
    assert out["contour"][0].numpy()[labels == 0].sum() == 0 and out["contour"].sum() > 0
    mask = (labels > 0).astype(np.float32) * 255
    components = PairedTargetsd("label")({"label": _volume(mask)})["instances"][0].numpy()
    assert sorted(np.unique(components)) == [0, 1, 2]


def test_a_seam_parts_touching_nuclei_in_the_target_and_in_the_gan_input():
    labels = np.zeros((6, 12, 20), np.uint16)
    labels[1:5, 2:10, 2:10], labels[1:5, 2:10, 10:18] = 1, 2  # two boxes touching along x 9 | 10
    plain = PairedTargetsd("label")({"label": _volume(labels)})
    seamed = PairedTargetsd("label", gap_width=1)({"label": _volume(labels)})
    np.testing.assert_array_equal(plain["binary"][0].numpy(), labels > 0)
    binary = seamed["binary"][0].numpy()
    assert not binary[:, :, 9:11].any() and binary[3, 5, 8] and binary[3, 5, 11]  # 2 voxels of background between
    assert ndimage.label(binary)[1] == 2 and ndimage.label(plain["binary"][0].numpy())[1] == 1
    np.testing.assert_array_equal(seamed["instances"][0], labels)  # instances and contours keep the whole nuclei
    np.testing.assert_array_equal(seamed["contour"], plain["contour"])
    assert seamed["image"][0, 3, 6, 10] < plain["image"][0, 3, 6, 10] - 0.2  # the blurred input dips at the seam
    with pytest.raises(ValueError, match="gap_width"):
        PairedTargetsd("label", gap_width=-1)


def test_crops_in_the_canonical_layout_and_their_datalist(tmp_path):
    labels = np.zeros((10, 100, 70), np.uint16)
    labels[2:8, 10:30, 10:30] = 1
    item = PairedTargetsd("label")({"label": _volume(labels, name="/data/vol.tif")})
    item["synthetic"] = item["image"]
    SavePairedCropsd(["synthetic", "instances", "contour", "shapemarker"], tmp_path, crop_size=64)(item)
    names = ["vol_000.tif"]  # 10 x 100 x 70 -> one 10 x 64 x 64 tile, the remainder left out
    for folder in ("images", "labels", "contour", "shapemarker"):
        assert sorted(p.name for p in (tmp_path / folder).iterdir()) == names
    crop, spacing = read_image(tmp_path / "labels" / "vol_000.tif")
    assert crop.shape == (10, 64, 64) and spacing == pytest.approx((2.0, 1.0, 1.0))
    datalist = json.loads(write_pairs_datalist(tmp_path).read_text())
    assert datalist["training"][0]["shapemarker"] == "shapemarker/vol_000.tif"
    with pytest.raises(ValueError, match="give 4 keys"):
        SavePairedCropsd(["synthetic"], tmp_path)


def test_write_raw_pairs_blurs_the_labels_of_a_pairs_dataset_without_the_gan(tmp_path):
    from cellbundles.transforms import write_raw_pairs

    labels = np.zeros((8, 16, 16), np.uint16)
    labels[2:6, 4:12, 4:12] = 1
    pairs = tmp_path / "pairs"
    for folder in ("images", "labels", "contour", "shapemarker"):
        write_image(pairs / folder / "a_000.tif", labels.astype(np.float32) if folder == "images" else labels, (1.75, 0.8, 0.8))
    (pairs / "datalist.json").write_text('{"training": [{"image": "images/a_000.tif", "label": "labels/a_000.tif"}]}')
    datalist = write_raw_pairs(pairs, tmp_path / "raw", psf_sigma=1.0, noise_std=0.0)
    assert datalist.read_text() == (pairs / "datalist.json").read_text()
    image, spacing = read_image(tmp_path / "raw" / "images" / "a_000.tif")
    assert spacing == pytest.approx((1.75, 0.8, 0.8))
    assert 0.5 < image[4, 8, 8] <= 1.0 and image[0, 0, 0] < 0.01 and 0.0 < image[4, 3, 8] < image[4, 8, 8]
    np.testing.assert_array_equal(read_image(tmp_path / "raw" / "labels" / "a_000.tif")[0], labels)
    labels[2:6, 8:12, 4:12] = 2  # two touching nuclei: with the pairs' gap the raw image dips between them
    write_image(pairs / "labels" / "a_000.tif", labels, (1.75, 0.8, 0.8))
    write_raw_pairs(pairs, tmp_path / "plain", psf_sigma=0.5, noise_std=0.0)
    write_raw_pairs(pairs, tmp_path / "seamed", psf_sigma=0.5, noise_std=0.0, gap_width=1)
    plain, seamed = (read_image(tmp_path / name / "images" / "a_000.tif")[0] for name in ("plain", "seamed"))
    assert seamed[4, 7:9, 8].max() < 0.5 < plain[4, 7:9, 8].min() and seamed[4, 5, 8] == pytest.approx(plain[4, 5, 8], abs=0.05)


def test_nucleus_contrast_of_a_generated_volume_and_a_warning_when_it_is_inverted():
    """Contrast = (mean inside - mean outside) / (mean inside + mean outside) of I_syn over the phantom nuclei; an
    inverted generator (nuclei darker than their surround) gets a warning that names the phantom file."""
    labels = np.zeros((4, 10, 10), np.uint16)
    labels[1:3, 2:6, 2:6] = 1
    item = {"label": _volume(labels, name="/data/phantom_007.tif"), "instances": torch.as_tensor(labels)[None]}
    bright = np.where(labels > 0, 0.6, 0.2).astype(np.float32)
    transform = NucleusContrastd("synthetic", label_key="instances", contrast_keys="contrast")
    assert transform({**item, "synthetic": torch.as_tensor(bright)[None]})["contrast"] == pytest.approx(0.5)
    with pytest.warns(UserWarning, match="phantom_007.tif: the generated volume is darker inside the phantom nuclei"):
        inverted = transform({**item, "synthetic": torch.as_tensor(0.8 - bright)[None]})
    assert inverted["contrast"] == pytest.approx(-0.5)
    empty = {"label": item["label"], "instances": torch.zeros_like(item["instances"]), "synthetic": torch.as_tensor(bright)[None]}
    assert np.isnan(transform(empty)["contrast"])
