"""Size-aware resampling: EstimateDiameterd (labels / given / estimated, warning) and ScaleToDiameterd, and the label diameters they rely on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, Invertd

from cellbundles.postprocess.size import equivalent_diameters_um, median_diameter_um
from cellbundles.transforms import EstimateDiameterd, ScaleToDiameterd


def _spheres(radius_um: float, spacing: tuple[float, float, float], shape=(24, 64, 64), centres=((12, 20, 20), (12, 44, 44))):
    grid = np.indices(shape).astype(np.float64) * np.asarray(spacing)[:, None, None, None]
    labels = np.zeros(shape, np.int32)
    for index, centre in enumerate(centres, start=1):
        centre_um = np.asarray(centre) * np.asarray(spacing)
        inside = ((grid - centre_um[:, None, None, None]) ** 2).sum(0) <= radius_um**2
        labels[inside] = index
    return labels


def _meta(array: np.ndarray, spacing, filename: str = "vol.tif") -> MetaTensor:
    affine = torch.eye(4, dtype=torch.float64)
    affine[:3, :3] = torch.diag(torch.tensor(spacing, dtype=torch.float64))
    return MetaTensor(torch.as_tensor(array[None]).float(), affine=affine, meta={"filename_or_obj": filename})


def test_equivalent_diameters_of_spheres():
    spacing = (1.0, 0.5, 0.5)
    labels = _spheres(4.0, spacing)
    diameters = equivalent_diameters_um(labels, spacing)
    assert diameters.shape == (2,)
    np.testing.assert_allclose(diameters, 8.0, rtol=0.05)
    assert median_diameter_um(np.zeros((4, 4), np.int32)) is None
    square = np.zeros((10, 10), np.int32)
    square[:4, :4] = 1
    assert equivalent_diameters_um(square)[0] == pytest.approx(np.sqrt(4 * 16 / np.pi))


def test_diameter_from_labels_given_or_estimated(recwarn):
    spacing = (1.0, 0.5, 0.5)
    labels = _spheres(4.0, spacing)
    image = _meta((labels > 0).astype(np.float32), spacing)
    from_labels = EstimateDiameterd("image", diameter=3.0, label_key="label", trained_range_um=(1.5, 20))({"image": image, "label": _meta(labels, spacing)})
    assert from_labels["nucleus_diameter_um"] == pytest.approx(8.0, rel=0.05)
    assert from_labels["nucleus_diameter_um_source"] == "labels"
    given = EstimateDiameterd("image", diameter=5.0, label_key="label")({"image": image})
    assert given["nucleus_diameter_um"] == 5.0 and given["nucleus_diameter_um_source"] == "given"
    estimated = EstimateDiameterd("image", trained_range_um=(1.5, 20))({"image": image})
    assert estimated["nucleus_diameter_um_source"] == "estimated"
    assert estimated["nucleus_diameter_um"] == pytest.approx(8.0, rel=0.3)
    assert not [w for w in recwarn if "outside the trained range" in str(w.message)]


def test_estimate_outside_the_trained_range_warns_with_the_file_name():
    spacing = (1.0, 0.5, 0.5)
    image = _meta((_spheres(4.0, spacing) > 0).astype(np.float32), spacing, filename="/data/big_nuclei.tif")
    with pytest.warns(UserWarning, match=r"big_nuclei\.tif.*estimated nucleus diameter \d+\.\d+ um is outside"):
        EstimateDiameterd("image", trained_range_um=(1.5, 4.0))({"image": image})
    kept = EstimateDiameterd("image", trained_range_um=(1.5, 4.0))({"image": image, "nucleus_diameter_um": 3.0})
    assert kept["nucleus_diameter_um"] == 3.0  # a diameter already in the data is kept, no estimate


def test_constant_image_gets_the_middle_of_the_trained_range(recwarn):
    """A blank volume holds no nucleus to measure: not the estimator's smallest diameter (1.5 um), which would
    enlarge it tenfold per axis, but the geometric middle of the trained range; without a range, the estimator's."""
    blank = _meta(np.zeros((16, 48, 48), np.float32), (1.0, 0.5, 0.5))
    out = EstimateDiameterd("image", trained_range_um=(8.0, 24.0))({"image": blank})
    assert out["nucleus_diameter_um"] == pytest.approx(np.sqrt(8.0 * 24.0))
    assert out["nucleus_diameter_um_source"] == "constant image"
    assert not [w for w in recwarn if "outside the trained range" in str(w.message)]
    assert EstimateDiameterd("image")({"image": blank})["nucleus_diameter_um"] == pytest.approx(1.5)
    given = EstimateDiameterd("image", diameter=5.0, trained_range_um=(8.0, 24.0))({"image": blank})
    assert given["nucleus_diameter_um"] == 5.0 and given["nucleus_diameter_um_source"] == "given"


def test_bad_diameter_option():
    with pytest.raises(ValueError, match="nucleus_diameter_um"):
        EstimateDiameterd("image", diameter=-2.0)
    with pytest.raises(ValueError, match="nucleus_diameter_um"):
        EstimateDiameterd("image", diameter="big")


def test_scale_to_diameter_and_back():
    spacing = (1.0, 0.5, 0.5)
    image = _meta(np.random.default_rng(0).random((24, 64, 64)).astype(np.float32), spacing)
    scale = Compose([ScaleToDiameterd("image", model_spacing=(0.8, 0.5, 0.5), reference_diameter_um=6.5)])
    small = scale({"image": image, "nucleus_diameter_um": 13.0})
    np.testing.assert_allclose(small["image"].pixdim.numpy(), [1.6, 1.0, 1.0])
    assert tuple(small["image"].shape[1:]) == (15, 32, 32)
    large = scale({"image": image, "nucleus_diameter_um": 3.25})
    np.testing.assert_allclose(large["image"].pixdim.numpy(), [0.4, 0.25, 0.25])
    default = scale({"image": image})
    np.testing.assert_allclose(default["image"].pixdim.numpy(), [0.8, 0.5, 0.5])
    small["pred"] = small["image"]
    back = Invertd("pred", transform=scale, orig_keys="image")(small)
    assert tuple(back["pred"].shape) == (1, 24, 64, 64)
    with pytest.raises(ValueError, match="reference_diameter_um"):
        ScaleToDiameterd("image", model_spacing=(1, 1, 1), reference_diameter_um=0)


def test_scale_to_diameter_refuses_an_enlargement_beyond_max_voxels():
    """A diameter of 3.25 um enlarges the 24 x 64 x 64 volume to 58 x 127 x 127 (935 k voxels): with a limit of 500 k
    voxels that is refused before resampling, naming the file, the diameter and its source; a grid within the limit,
    one smaller than the input, or no limit at all pass."""
    image = _meta(np.zeros((24, 64, 64), np.float32), (1.0, 0.5, 0.5), filename="/data/stack.tif")
    options = dict(model_spacing=(0.8, 0.5, 0.5), reference_diameter_um=6.5)
    limited = ScaleToDiameterd("image", max_voxels=500_000, **options)
    sample = {"image": image, "nucleus_diameter_um": 3.25, "nucleus_diameter_um_source": "estimated"}
    with pytest.raises(ValueError, match=r"/data/stack.tif.*3.25 um \(estimated\).*58 x 127 x 127.*--nucleus_diameter_um"):
        limited(sample)
    assert tuple(ScaleToDiameterd("image", **options)(sample)["image"].shape) == (1, 58, 127, 127)
    assert tuple(ScaleToDiameterd("image", max_voxels=10**6, **options)(sample)["image"].shape) == (1, 58, 127, 127)
    assert tuple(limited({"image": image, "nucleus_diameter_um": 13.0})["image"].shape) == (1, 15, 32, 32)
    tiny_limit = ScaleToDiameterd("image", max_voxels=10, **options)  # a grid smaller than the input always passes
    assert tuple(tiny_limit({"image": image, "nucleus_diameter_um": 13.0})["image"].shape) == (1, 15, 32, 32)


def test_central_crop_keeps_the_planes_and_bounds_the_voxels():
    from cellbundles.transforms.size import central_crop

    array = np.arange(4 * 100 * 60).reshape(4, 100, 60)
    crop = central_crop(array, 4 * 50 * 30)
    assert crop.shape == (4, 50, 30)
    np.testing.assert_array_equal(crop, array[:, 25:75, 15:45])
    assert central_crop(array, array.size) is array


def test_estimate_on_the_central_part_of_a_large_volume():
    spacing = (1.0, 0.5, 0.5)
    centres = [(12, 16 + 32 * i, 16 + 32 * j) for i in range(4) for j in range(4)]
    labels = _spheres(4.0, spacing, shape=(24, 128, 128), centres=centres)
    image = _meta((labels > 0).astype(np.float32), spacing)
    whole = EstimateDiameterd("image", max_voxels=10**9)({"image": image})["nucleus_diameter_um"]
    part = EstimateDiameterd("image", max_voxels=24 * 64 * 64)({"image": image})["nucleus_diameter_um"]
    assert part == pytest.approx(whole, rel=0.1)
    assert part == pytest.approx(8.0, rel=0.3)
