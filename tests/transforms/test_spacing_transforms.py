from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
from monai.data import MetaTensor
from monai.transforms import LoadImaged, Spacingd

from cellbundles.io import TiffReader, write_centroids_csv, write_image
from cellbundles.transforms import EnsureSpacingd, PointsToInputGridd, points_to_input_grid


def _load(path):
    return LoadImaged("image", reader=TiffReader(), ensure_channel_first=True, image_only=True)({"image": str(path)})


def _blob(shape, centre_um, spacing, sigma_um=1.5):
    """A bright Gaussian spot centred at ``centre_um`` (physical units) on a grid of ``spacing``."""
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    distance2 = sum((g - c) ** 2 for g, c in zip(grids, centre_um))
    return np.exp(-distance2 / (2 * sigma_um**2)).astype(np.float32)


def _weighted_centre(image):
    image = np.asarray(image, dtype=np.float64)
    grids = np.meshgrid(*[np.arange(n) for n in image.shape], indexing="ij")
    return np.array([(g * image).sum() / image.sum() for g in grids])


def test_explicit_spacing_sets_affine_and_meta(tmp_path):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((5, 6, 8), np.uint8))
    data = EnsureSpacingd("image", spacing=(2.0, 0.5, 0.25))(_load(path))
    image = data["image"]
    expected = np.diag([2.0, 0.5, 0.25, 1.0])
    np.testing.assert_allclose(image.affine.numpy(), expected)
    np.testing.assert_allclose(image.pixdim.numpy(), [2.0, 0.5, 0.25])
    np.testing.assert_allclose(image.meta["original_affine"], expected)
    np.testing.assert_allclose(image.meta["spacing"], [2.0, 0.5, 0.25])
    assert image.meta["spacing_known"] is True


def test_explicit_spacing_replaces_the_file_spacing(tmp_path):
    path = tmp_path / "with_spacing.tif"
    write_image(path, np.zeros((6, 8), np.uint8), (0.3, 0.3))
    image = EnsureSpacingd("image", spacing=[0.65, 0.65])(_load(path))["image"]
    np.testing.assert_allclose(image.pixdim.numpy(), [0.65, 0.65])
    np.testing.assert_allclose(image.meta["original_affine"], np.diag([0.65, 0.65, 1.0]))


def test_missing_voxel_size_raises_naming_the_file(tmp_path):
    path = tmp_path / "no_resolution.tif"
    tifffile.imwrite(path, np.zeros((5, 6, 8), np.uint8))
    data = _load(path)
    assert data["image"].meta["spacing_known"] is False
    with pytest.raises(ValueError, match=r"no_resolution\.tif.*--input_spacing"):
        EnsureSpacingd("image")(data)
    # not required: the unit spacing is kept
    kept = EnsureSpacingd("image", require=False)(_load(path))["image"]
    np.testing.assert_allclose(kept.pixdim.numpy(), [1.0, 1.0, 1.0])


def _load_pair(image_path, label_path):
    loader = LoadImaged(["image", "label"], reader=TiffReader(), ensure_channel_first=True, image_only=True)
    return loader({"image": str(image_path), "label": str(label_path)})


def test_label_without_voxel_size_takes_the_image_spacing(tmp_path):
    write_image(tmp_path / "image.tif", np.zeros((5, 6, 8), np.uint8), (1.5, 0.4, 0.4))
    tifffile.imwrite(tmp_path / "label.tif", np.ones((5, 6, 8), np.uint16))
    loaded = _load_pair(tmp_path / "image.tif", tmp_path / "label.tif")
    data = EnsureSpacingd(["image", "label"], reference_key="image")(loaded)
    np.testing.assert_allclose(data["label"].pixdim.numpy(), [1.5, 0.4, 0.4])
    assert data["label"].meta["spacing_known"] is True
    # without a reference, or with one of another shape, the label still has to state its voxel size
    with pytest.raises(ValueError, match=r"label\.tif.*no voxel size"):
        EnsureSpacingd(["image", "label"])(_load_pair(tmp_path / "image.tif", tmp_path / "label.tif"))
    tifffile.imwrite(tmp_path / "small_label.tif", np.ones((5, 6, 7), np.uint16))
    with pytest.raises(ValueError, match=r"small_label\.tif.*no voxel size"):
        EnsureSpacingd(["image", "label"], reference_key="image")(
            _load_pair(tmp_path / "image.tif", tmp_path / "small_label.tif")
        )


def test_file_spacing_is_kept_when_none_is_given(tmp_path):
    path = tmp_path / "known.tif"
    write_image(path, np.zeros((5, 6, 8), np.uint8), (1.5, 0.4, 0.4))
    image = EnsureSpacingd("image")(_load(path))["image"]
    np.testing.assert_allclose(image.pixdim.numpy(), [1.5, 0.4, 0.4])


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (1.0, 0.0, 1.0), (1.0, -0.5, 1.0), (1.0, float("nan"), 1.0)])
def test_bad_explicit_spacing_raises(tmp_path, spacing):
    path = tmp_path / "vol.tif"
    tifffile.imwrite(path, np.zeros((5, 6, 8), np.uint8))
    with pytest.raises(ValueError, match=r"vol\.tif.*input_spacing must hold 3 positive values"):
        EnsureSpacingd("image", spacing=spacing)(_load(path))


def test_non_metatensor_is_refused():
    with pytest.raises(ValueError, match="image: expected a MetaTensor"):
        EnsureSpacingd("image", spacing=(1.0, 1.0))({"image": np.zeros((1, 4, 4))})


@pytest.mark.parametrize(
    "shape, spacing, pixdim, centre_um",
    [
        ((12, 24, 24), (2.0, 0.5, 0.5), (1.0, 1.0, 1.0), (9.0, 5.5, 6.0)),
        ((24, 40), (0.5, 0.25), (1.0, 1.0), (6.0, 4.5)),
    ],
)
def test_points_round_trip_through_spacingd(tmp_path, shape, spacing, pixdim, centre_um):
    path = tmp_path / "spot.tif"
    write_image(path, _blob(shape, centre_um, spacing), spacing)
    data = Spacingd("image", pixdim=pixdim, mode="bilinear")(EnsureSpacingd("image")(_load(path)))
    resampled = data["image"]
    assert resampled.shape[1:] != shape
    found = _weighted_centre(resampled[0].numpy())[None]
    truth = np.asarray(centre_um)[None] / np.asarray(spacing)
    # on the resampled grid of unit spacing, the spot sits at its physical position
    np.testing.assert_allclose(found, np.asarray(centre_um)[None], atol=0.1)

    mapped = PointsToInputGridd("found", ref_key="image", output_keys="on_input")({**data, "found": found})
    np.testing.assert_allclose(mapped["on_input"], truth, atol=0.2)
    np.testing.assert_array_equal(mapped["found"], found)

    back = PointsToInputGridd("truth", ref_key="image", inverse=True)({**data, "truth": torch.as_tensor(truth)})
    np.testing.assert_allclose(back["truth"], found, atol=0.1)

    in_um = PointsToInputGridd("found", ref_key="image", output_keys="um", in_um=True)({**data, "found": found})
    np.testing.assert_allclose(in_um["um"], np.asarray(centre_um)[None], atol=0.2 * max(spacing))
    np.testing.assert_allclose(in_um["um"], mapped["on_input"] * np.asarray(spacing))
    with pytest.raises(ValueError, match="in_um"):
        PointsToInputGridd("found", inverse=True, in_um=True)


def test_points_from_a_centroid_csv(tmp_path):
    image = MetaTensor(torch.zeros(1, 5, 8, 8), affine=torch.eye(4))
    image.meta["original_affine"] = np.diag([2.0, 0.5, 0.5, 1.0])
    csv_path = tmp_path / "centroids" / "a.csv"
    write_centroids_csv(csv_path, np.array([[1.0, 4.0, 6.0], [0.0, 0.0, 2.0]]))
    data = PointsToInputGridd("centroids", inverse=True)({"image": image, "centroids": str(csv_path)})
    np.testing.assert_allclose(data["centroids"], [[2.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    data = PointsToInputGridd("centroids", inverse=True)({"image": image, "centroids": csv_path})
    np.testing.assert_allclose(data["centroids"], [[2.0, 2.0, 3.0], [0.0, 0.0, 1.0]])


def test_points_to_input_grid_general_affines():
    rng = np.random.default_rng(0)
    affine = np.eye(4)
    affine[:3, :3] = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]  # y and x swapped
    affine[:3, 3] = [3.0, -2.0, 1.0]
    original = np.diag([2.0, 0.5, 0.25, 1.0])
    original[:3, 3] = [1.0, 1.0, 0.0]
    points = rng.uniform(0, 10, size=(5, 3))
    expected = (np.linalg.inv(original) @ affine @ np.c_[points, np.ones(5)].T).T[:, :3]
    mapped = points_to_input_grid(points, affine, original)
    np.testing.assert_allclose(mapped, expected)
    np.testing.assert_allclose(points_to_input_grid(mapped, affine, original, inverse=True), points)
    assert points_to_input_grid(np.zeros((0, 3)), affine, original).shape == (0, 3)
    assert points_to_input_grid(np.zeros((0,)), affine, original).shape == (0, 3)


def test_points_of_the_wrong_dimension_raise():
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        points_to_input_grid(np.zeros((3, 2)), np.eye(4), np.eye(4))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        points_to_input_grid(np.zeros((2, 3)), np.eye(3), np.eye(3))


def test_centroid_csv_of_the_wrong_dimension_names_the_file(tmp_path):
    image = MetaTensor(torch.zeros(1, 5, 8, 8), affine=torch.eye(4))
    image.meta["original_affine"] = np.eye(4)
    csv_path = tmp_path / "flat.csv"
    write_centroids_csv(csv_path, np.array([[4.0, 6.0]]))
    with pytest.raises(ValueError, match=r"centroids \(.*flat\.csv\): points must be an \(N, 3\) array"):
        PointsToInputGridd("centroids")({"image": image, "centroids": csv_path})


def test_reference_without_original_affine_raises():
    with pytest.raises(ValueError, match="original affine"):
        PointsToInputGridd("points")({"image": torch.zeros(1, 4, 4), "points": np.zeros((1, 2))})
