from __future__ import annotations

import glob

import numpy as np
import pytest
import torch
from scipy import ndimage
from monai.data import MetaTensor

from cellbundles.io import read_image, read_labels
from cellbundles.transforms import (
    InstancesFromBinaryd,
    InstancesFromThreeClassd,
    InstancesToBinary,
    InstancesToBinaryd,
    InstancesToThreeClass,
    InstancesToThreeClassd,
    ToSingleChannel,
    ToSingleChanneld,
    dsb_augmentations,
    seamed_foreground,
    three_class_map,
)

DSB = "data/samples/dsb2018_stage1_train"
FLUORESCENCE = "0280fa8f"  # grey stored as RGBA, dark background
STAINED = ("13f2bec0", "4193474b")  # colour (H&E-like) tissue, nuclei dark
BRIGHTFIELD = "08275a5b"  # grey stored as RGBA, bright background


def dsb_image(prefix: str) -> np.ndarray:
    """``(4, H, W)`` channel-first RGBA sample image."""
    (path,) = glob.glob(f"{DSB}/images/{prefix}*.png")
    array, _ = read_image(path)
    assert array.ndim == 3 and array.shape[-1] == 4
    return np.moveaxis(array, -1, 0)


def two_touching_squares() -> np.ndarray:
    labels = np.zeros((20, 40), dtype=np.int32)
    labels[5:15, 5:15] = 1
    labels[5:15, 15:25] = 2
    return labels


def test_three_class_map_marks_the_contact_of_touching_squares():
    classes = three_class_map(two_touching_squares())
    assert classes.dtype == np.uint8
    # the two columns on either side of the contact are border, both squares keep an 8 x 8 interior
    assert np.all(classes[5:15, 14] == 2) and np.all(classes[5:15, 15] == 2)
    assert np.all(classes[6:14, 6:14] == 1) and np.all(classes[6:14, 16:24] == 1)
    assert np.count_nonzero(classes == 1) == 2 * 8 * 8
    assert np.count_nonzero(classes == 2) == 2 * (10 * 10 - 8 * 8)
    assert np.all(classes[two_touching_squares() == 0] == 0)


def test_three_class_map_border_width_connectivity_and_image_edge():
    labels = two_touching_squares()
    assert np.count_nonzero(three_class_map(labels, border_width=2) == 1) == 2 * 6 * 6
    assert np.array_equal(three_class_map(labels, border_width=0), (labels > 0).astype(np.uint8))
    # connectivity 2 also counts diagonal neighbours: around a one-pixel object inside another,
    # the diagonal pixels become border only then
    inner = np.ones((7, 7), dtype=np.int32)
    inner[3, 3] = 2
    assert three_class_map(inner, connectivity=1)[2, 3] == 2 and three_class_map(inner, connectivity=1)[2, 2] == 1
    assert three_class_map(inner, connectivity=2)[2, 2] == 2
    # an object cut by the image edge has no border along the edge
    edge = np.zeros((10, 10), dtype=np.int32)
    edge[:, :5] = 1
    classes = three_class_map(edge)
    assert np.all(classes[:, 0] == 1) and np.all(classes[:, 4] == 2)
    with pytest.raises(ValueError, match="border_width"):
        three_class_map(labels, border_width=-1)
    with pytest.raises(ValueError, match="connectivity"):
        three_class_map(labels, connectivity=3)
    with pytest.raises(ValueError, match="integer valued"):
        three_class_map(labels + 0.5)


def test_three_class_map_on_a_dsb_label_image():
    (path,) = glob.glob(f"{DSB}/labels/{FLUORESCENCE}*.png")
    labels, _ = read_labels(path)
    classes = three_class_map(labels)
    assert np.array_equal(classes > 0, labels > 0)
    # every nucleus has a border, and every nucleus of at least 5 x 5 pixels keeps an interior
    for index in range(1, int(labels.max()) + 1):
        nucleus = classes[labels == index]
        assert np.any(nucleus == 2)
        assert nucleus.size < 25 or np.any(nucleus == 1)


def test_array_transforms_keep_type_and_metadata():
    labels = MetaTensor(torch.as_tensor(two_touching_squares())[None], meta={"filename_or_obj": "cells.tif"})
    classes = InstancesToThreeClass()(labels)
    assert isinstance(classes, MetaTensor) and classes.dtype == torch.float32 and classes.shape == (1, 20, 40)
    assert classes.meta["filename_or_obj"] == "cells.tif"
    assert set(torch.unique(classes).tolist()) == {0.0, 1.0, 2.0}
    binary = InstancesToBinary(dtype=np.uint8)(two_touching_squares()[None])
    assert isinstance(binary, np.ndarray) and binary.dtype == np.uint8
    assert np.array_equal(binary[0], (two_touching_squares() > 0).astype(np.uint8))
    with pytest.raises(ValueError, match=r"cells\.tif.*one channel"):
        InstancesToThreeClass()(torch.cat([labels, labels]))


def test_dictionary_targets_in_place_or_to_new_keys():
    data = {"label": two_touching_squares()[None]}
    out = InstancesToThreeClassd("label", output_keys="classes", border_width=1)(data)
    assert np.array_equal(out["label"], data["label"])
    assert np.array_equal(out["classes"][0], three_class_map(two_touching_squares()))
    out = InstancesToBinaryd("label")(data)
    assert set(np.unique(out["label"])) == {0.0, 1.0}


def test_to_single_channel_grey_rgb_and_rgba_agree_on_a_fluorescence_sample():
    rgba = dsb_image(FLUORESCENCE)
    assert np.array_equal(rgba[0], rgba[1]) and np.all(rgba[3] == 255)  # grey stored as RGBA
    transform = ToSingleChannel(lower=1.0, upper=99.8)
    from_rgba = transform(rgba)
    assert from_rgba.shape == (1, *rgba.shape[1:]) and from_rgba.dtype == np.float32
    np.testing.assert_array_equal(transform(rgba[:3]), from_rgba)
    np.testing.assert_array_equal(transform(rgba[:1]), from_rgba)
    low, high = np.percentile(rgba[0].astype(np.float64), (1.0, 99.8))
    np.testing.assert_allclose(from_rgba[0], np.clip((rgba[0] - low) / (high - low), 0, 1), atol=1e-6)
    assert from_rgba.min() == 0.0 and from_rgba.max() == 1.0


@pytest.mark.parametrize("prefix", STAINED)
def test_to_single_channel_of_stained_colour_images(prefix):
    rgba = dsb_image(prefix)
    assert not np.array_equal(rgba[0], rgba[2])  # a real colour image
    result = ToSingleChannel()(torch.as_tensor(rgba))
    assert isinstance(result, torch.Tensor) and result.shape == (1, *rgba.shape[1:])
    # the colour channels are averaged, then scaled: the same as scaling the grey mean image
    grey = rgba[:3].astype(np.float32).mean(axis=0, keepdims=True)
    np.testing.assert_allclose(result.numpy(), ToSingleChannel()(grey), atol=1e-6)
    inverted = ToSingleChannel(invert="auto")(rgba)
    np.testing.assert_allclose(inverted, 1.0 - result.numpy(), atol=1e-6)


def test_auto_inversion_only_for_bright_backgrounds():
    fluorescence, brightfield = dsb_image(FLUORESCENCE), dsb_image(BRIGHTFIELD)
    auto, never, always = ToSingleChannel(invert="auto"), ToSingleChannel(), ToSingleChannel(invert="always")
    np.testing.assert_array_equal(auto(fluorescence), never(fluorescence))
    np.testing.assert_allclose(auto(brightfield), always(brightfield))
    np.testing.assert_allclose(always(brightfield), 1.0 - never(brightfield), atol=1e-6)
    assert np.median(never(brightfield)) > 0.5 > np.median(auto(brightfield))


def test_to_single_channel_dictionary_and_errors():
    image = MetaTensor(torch.rand(2, 8, 8), meta={"filename_or_obj": "two_channels.tif"})
    with pytest.raises(ValueError, match=r"two_channels\.tif.*1 \(grey\), 3 \(RGB\) or 4 \(RGBA\)"):
        ToSingleChanneld("image")({"image": image})
    with pytest.raises(ValueError, match="NaN"):
        ToSingleChannel()(np.full((1, 4, 4), np.nan))
    with pytest.raises(ValueError, match="invert"):
        ToSingleChannel(invert="sometimes")
    with pytest.raises(ValueError, match="percentiles"):
        ToSingleChannel(lower=50, upper=10)
    constant = ToSingleChanneld("image")({"image": np.full((3, 4, 4), 7.0)})["image"]
    assert constant.shape == (1, 4, 4) and not constant.any()


def test_augmentations_keep_image_and_label_aligned():
    # treat both keys as labels (same interpolation, no intensity change): they must stay equal
    pattern = torch.as_tensor(np.random.RandomState(0).randint(0, 6, (1, 64, 64)), dtype=torch.float32)
    augment = dsb_augmentations(keys=("image", "label"), label_keys=("image", "label"))
    augment.set_random_state(0)
    changed = 0
    for _ in range(6):
        out = augment({"image": pattern.clone(), "label": pattern.clone()})
        assert out["image"].shape == (1, 64, 64)
        assert torch.equal(torch.as_tensor(out["image"]), torch.as_tensor(out["label"]))
        changed += not torch.equal(torch.as_tensor(out["label"]), pattern)
    assert changed >= 5


def test_augmentations_change_image_intensities_but_not_label_values():
    labels = torch.as_tensor(two_touching_squares()[None], dtype=torch.float32)
    image = (labels > 0).float() * 0.8 + 0.1
    augment = dsb_augmentations(label_keys="label", flip_prob=0.0, affine_prob=0.0, elastic_prob=0.0,
                                grid_distortion_prob=0.0, optical_distortion_prob=0.0,
                                contrast_prob=1.0, gamma_prob=1.0, brightness_prob=1.0)
    augment.set_random_state(1)
    out = augment({"image": image.clone(), "label": labels.clone()})
    assert torch.equal(torch.as_tensor(out["label"]), labels)  # intensity transforms skip labels
    assert not torch.allclose(torch.as_tensor(out["image"]), image)
    # with the spatial transforms, nearest interpolation keeps the label ids
    spatial = dsb_augmentations(label_keys="label", affine_prob=1.0, elastic_prob=1.0, grid_distortion_prob=1.0)
    spatial.set_random_state(2)
    out = spatial({"image": image.clone(), "label": labels.clone()})
    assert set(torch.unique(torch.as_tensor(out["label"])).tolist()) <= {0.0, 1.0, 2.0}
    with pytest.raises(ValueError, match="label_keys"):
        dsb_augmentations(keys="image", label_keys="label")


def test_instances_from_network_outputs_in_a_postprocessing_chain():
    labels = two_touching_squares()
    one_hot = np.eye(3, dtype=np.float32)[three_class_map(labels)].transpose(2, 0, 1)
    pred = MetaTensor(torch.as_tensor(one_hot), meta={"filename_or_obj": "img.png"})
    out = InstancesFromThreeClassd("pred")({"pred": pred})["instances"]
    assert isinstance(out, MetaTensor) and out.shape == (1, 20, 40) and out.dtype == torch.int32
    assert out.meta["filename_or_obj"] == "img.png"
    assert np.array_equal(out[0].numpy(), labels)
    softmax = torch.stack([torch.as_tensor(labels == 0), torch.as_tensor(labels > 0)]).float()
    merged = InstancesFromBinaryd("pred", instance_keys="binary")({"pred": softmax})["binary"]
    assert merged.shape == (1, 20, 40) and set(torch.unique(merged).tolist()) == {0, 1}
    # two touching discs: one component, split in two at their neck
    rows, cols = np.indices((30, 50))
    discs = ((rows - 15) ** 2 + (cols - 15) ** 2 <= 81) | ((rows - 15) ** 2 + (cols - 32) ** 2 <= 81)
    softmax = torch.stack([torch.as_tensor(~discs), torch.as_tensor(discs)]).float()
    options = {"split_h": 1.0, "fill_holes": True}
    assert InstancesFromBinaryd("pred")({"pred": softmax})["instances"].max() == 1
    assert InstancesFromBinaryd("pred", **options)({"pred": softmax})["instances"].max() == 2


def test_binary_target_with_a_seam_between_touching_nuclei_in_3d():
    labels = np.zeros((1, 8, 10, 16), np.int32)
    labels[0, 2:6, 2:8, 2:8], labels[0, 2:6, 2:8, 8:14] = 1, 2  # two boxes touching along x = 7 | 8
    labels[0, 0, 0, 15] = 3  # a lone voxel on the edge: no contact
    plain = InstancesToBinaryd("label", output_keys="binary")({"label": labels})["binary"]
    np.testing.assert_array_equal(plain, (labels > 0).astype(np.float32))
    seamed = InstancesToBinaryd("label", output_keys="binary", gap_width=1)({"label": MetaTensor(torch.as_tensor(labels))})
    seamed = seamed["binary"]
    assert isinstance(seamed, MetaTensor) and seamed.dtype == torch.float32
    seam = (labels[0] > 0) & (seamed[0].numpy() == 0)
    # one voxel on each side of the contact, nothing else; the two boxes become two blobs
    assert set(np.nonzero(seam)[2]) == {7, 8} and seam.sum() == 2 * 4 * 6
    np.testing.assert_array_equal(seamed[0].numpy() > 0, seamed_foreground(labels[0], 1))
    assert ndimage.label(seamed[0].numpy() > 0)[1] == 3 and ndimage.label(labels[0] > 0)[1] == 2


def test_instances_from_binary_splits_in_um_on_an_anisotropic_grid():
    """Two 6 um spheres 11 um apart along a z axis sampled 4 x coarser than x and y: in voxel units the
    z neck is only a quarter as deep as it is in um, so only the split in um separates them."""
    spacing = (2.0, 0.5, 0.5)
    grid = np.indices((24, 40, 40)).astype(float)
    mask = np.zeros(grid.shape[1:], bool)
    for z in (12 - 11 / 4, 12 + 11 / 4):  # centres in voxels, 11 um apart
        mask |= sum(((g - c) * s) ** 2 for g, c, s in zip(grid, (z, 20, 20), spacing)) <= 36
    probability = MetaTensor(torch.from_numpy(mask[None].astype(np.float32)), affine=torch.diag(torch.tensor([*spacing, 1.0])))
    counts = [
        len(torch.unique(InstancesFromBinaryd("p", split_h=1.0, split_in_um=in_um)({"p": probability})["instances"])) - 1
        for in_um in (False, True)
    ]
    assert counts == [1, 2]
    with pytest.raises(ValueError, match="spacing"):
        InstancesFromBinaryd("p", split_h=1.0, split_in_um=True)({"p": torch.from_numpy(mask[None].astype(np.float32))})


def test_instances_from_binary_split_in_a_given_spacing_follows_the_nucleus_size():
    """One voxel array of two touching spheres (radius 12 voxels, centres 20.4 voxels apart) read at 0.5 um
    (12 um nuclei, a dome of about 2.8 um above the neck) and at 0.125 um (3 um nuclei, about 0.7 um). An ``h`` of
    2 um in the input's own spacing splits the large pair only; measured in a given spacing (a model grid of
    0.5 um, as on a volume scaled to the nucleus size) both pairs split alike."""
    grid = np.indices((30, 30, 56)).astype(float)
    mask = np.zeros(grid.shape[1:], bool)
    for x in (28 - 10.2, 28 + 10.2):
        mask |= (grid[0] - 15) ** 2 + (grid[1] - 15) ** 2 + (grid[2] - x) ** 2 <= 144

    def count(affine_spacing, spacing=None):
        probability = MetaTensor(
            torch.from_numpy(mask[None].astype(np.float32)), affine=torch.diag(torch.tensor([affine_spacing] * 3 + [1.0]))
        )
        split = InstancesFromBinaryd("p", split_h=2.0, split_in_um=True, spacing=spacing)
        return len(torch.unique(split({"p": probability})["instances"])) - 1

    assert (count(0.5), count(0.125)) == (2, 1)
    assert (count(0.5, spacing=0.5), count(0.125, spacing=0.5)) == (2, 2)
    assert count(0.5, spacing=(0.125, 0.125, 0.125)) == 1
