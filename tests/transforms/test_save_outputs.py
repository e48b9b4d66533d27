from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import LoadImaged

import cellbundles.io
from cellbundles.io import TiffReader, read_image, write_image
from cellbundles.transforms import SaveOutputsd
from cellbundles.utils import spacing_from_affine
from cellbundles.visualize import overlay_scale

SPACING = (2.0, 0.5, 0.25)
SHAPE = (5, 16, 20)
CENTROIDS = np.array([[1.0, 3.0, 4.0], [3.0, 11.0, 14.0]])
TABLES = {
    "centroids": {"points": "centroids", "columns": {"peak": "peak_values"}},
    "uncertainty": {"points": "centroids", "columns": {"radius_um": "radius", "uncertain": "uncertain"}},
}


def _item(tmp_path, name="sample.ome.tif"):
    """A loaded input with its results on the input's grid, as SaveOutputsd gets them after Invertd."""
    rng = np.random.default_rng(0)
    source = tmp_path / "inputs" / name
    write_image(source, rng.uniform(0, 100, SHAPE).astype(np.float32), SPACING)
    data = LoadImaged("image", reader=TiffReader(), ensure_channel_first=True, image_only=True)({"image": str(source)})
    instances = np.zeros((1, *SHAPE), np.int64)
    instances[0, 0:3, 0:8, 1:9] = 1
    instances[0, 2:5, 8:15, 11:19] = 2
    return {
        **data,
        "instances": torch.as_tensor(instances),
        "mask": torch.as_tensor(instances > 0).to(torch.uint8),
        "density": torch.as_tensor(rng.uniform(0, 1, (1, *SHAPE)).astype(np.float32)),
        "centroids": CENTROIDS.copy(),
        "peak_values": torch.tensor([0.9, 0.7]),
        "count": torch.tensor([2.3]),
    }


def _writer(out, **kwargs):
    options = {
        "images": {"instances": "instances", "mask": "mask", "density": "density"},
        "tables": TABLES,
        "overlay_image_key": "image",
        "scalars": {"count": "count"},
    }
    return SaveOutputsd(out, **{**options, **kwargs})


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_spacing_from_affine():
    assert spacing_from_affine(np.diag([2.0, 0.5, 0.25, 1.0])) == pytest.approx(SPACING)
    rotated = np.eye(3)
    rotated[:2, :2] = [[0.0, -0.3], [0.3, 0.0]]
    rotated[:2, 2] = [5.0, 7.0]
    assert spacing_from_affine(rotated) == pytest.approx((0.3, 0.3))


def test_writes_images_tables_overlay_and_summary(tmp_path):
    item = _item(tmp_path)
    out = tmp_path / "out"
    result = _writer(out)(item)

    names = sorted(path.name for path in out.iterdir())
    assert names == [
        "sample_centroids.csv",
        "sample_density.tif",
        "sample_instances.tif",
        "sample_mask.tif",
        "sample_overlay.png",
    ]
    instances, spacing = read_image(out / "sample_instances.tif")
    np.testing.assert_array_equal(instances, item["instances"][0].numpy())
    assert spacing == pytest.approx(SPACING)
    density, spacing = read_image(out / "sample_density.tif")
    np.testing.assert_allclose(density, item["density"][0].numpy())
    assert spacing == pytest.approx(SPACING)
    mask, _ = read_image(out / "sample_mask.tif")
    np.testing.assert_array_equal(mask, item["mask"][0].numpy())

    rows = _rows(out / "sample_centroids.csv")
    assert list(rows[0]) == ["id", "z", "y", "x", "z_um", "y_um", "x_um", "peak"]
    assert [float(rows[1][axis]) for axis in "zyx"] == [3.0, 11.0, 14.0]
    assert [float(rows[1][f"{axis}_um"]) for axis in "zyx"] == pytest.approx([6.0, 5.5, 3.5])
    assert [float(row["peak"]) for row in rows] == pytest.approx([0.9, 0.7])

    overlay, _ = read_image(out / "sample_overlay.png")
    # large enough to see nuclei: the 16 x 20 (x 5 slices) input is enlarged by whole factors, pixels square
    # in micrometres (x is twice as fine as y, z four times coarser), with the z side views beside it
    fz, fy, fx = overlay_scale(SHAPE, SPACING, side_views=True)
    assert (fz, fy, fx) == (208, 52, 26)
    assert overlay.shape == (SHAPE[1] * fy + 6 + SHAPE[0] * fz, SHAPE[2] * fx + 6 + SHAPE[0] * fz, 3)
    assert min(SHAPE[1] * fy, SHAPE[2] * fx) >= 512 and overlay.dtype == np.uint8

    def pixel(y, x, corner=False):  # the enlarged block of voxel (y, x): its centre or its last pixel
        return overlay[int((y + 1) * fy - 1 if corner else (y + 0.5) * fy),
                       int((x + 1) * fx - 1 if corner else (x + 0.5) * fx)]  # fmt: skip

    # centroid marks (magenta) at the (y, x) of the points, outlines (yellow) on the instance border
    assert tuple(pixel(3, 4)) == (255, 0, 255) and tuple(pixel(11, 14)) == (255, 0, 255)
    assert tuple(pixel(7, 8, corner=True)) == (255, 220, 0) and tuple(pixel(14, 18, corner=True)) == (255, 220, 0)
    assert tuple(pixel(11, 17)) not in {(255, 220, 0), (255, 0, 255)}
    # the side view along y (below): the centroid at z = 3, x = 14 and the outline of instance 2 from z = 2
    below = overlay[SHAPE[1] * fy + 6 :, : SHAPE[2] * fx]
    assert below.shape[0] == SHAPE[0] * fz
    assert tuple(below[int(3.5 * fz), int(14.5 * fx)]) == (255, 0, 255)
    assert tuple(below[2 * fz, int(15.5 * fx)]) == (255, 220, 0) and tuple(below[2 * fz - 1, int(15.5 * fx)]) != (255, 220, 0)

    summary = result["summary"]
    assert summary["image"] == str(tmp_path / "inputs" / "sample.ome.tif")
    assert summary["n_centroids"] == 2 and "n_uncertainty" not in summary
    assert summary["n_instances"] == len(np.unique(item["instances"])) - 1
    assert summary["count"] == pytest.approx(2.3)
    assert summary["outputs"] == {
        kind: str(out / f"sample_{kind}.{suffix}")
        for kind, suffix in [
            ("instances", "tif"),
            ("mask", "tif"),
            ("density", "tif"),
            ("centroids", "csv"),
            ("overlay", "png"),
        ]
    }


def test_uncertainty_table_written_when_its_keys_exist(tmp_path):
    item = {**_item(tmp_path), "radius": np.array([0.5, 1.5]), "uncertain": np.array([0, 1])}
    summary = _writer(tmp_path / "out", images={}, overlay_image_key=None)(item)["summary"]
    rows = _rows(tmp_path / "out" / "sample_uncertainty.csv")
    assert [(float(row["radius_um"]), int(row["uncertain"])) for row in rows] == [(0.5, 0), (1.5, 1)]
    assert summary["n_uncertainty"] == 2 and set(summary["outputs"]) == {"centroids", "uncertainty"}


def test_nifti_input_gives_nifti_outputs(tmp_path):
    item = _item(tmp_path, name="volume.nii.gz")
    _writer(tmp_path / "out", tables={}, overlay_image_key=None)(item)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "volume_density.nii.gz",
        "volume_instances.nii.gz",
        "volume_mask.nii.gz",
    ]
    instances, spacing = read_image(tmp_path / "out" / "volume_instances.nii.gz")
    np.testing.assert_array_equal(instances, item["instances"][0].numpy())
    assert spacing == pytest.approx(SPACING)


def test_missing_image_keys_are_skipped(tmp_path):
    item = _item(tmp_path)
    del item["density"]
    summary = _writer(tmp_path / "out", tables={}, overlay_image_key=None)(item)["summary"]
    assert set(summary["outputs"]) == {"instances", "mask"}
    assert not (tmp_path / "out" / "sample_density.tif").exists()


def test_reference_with_a_meta_dict(tmp_path):
    item = _item(tmp_path)
    meta = dict(item["image"].meta)
    item["image"] = item["image"].as_tensor()
    item["image_meta_dict"] = meta
    summary = _writer(tmp_path / "out", tables={}, overlay_image_key=None)(item)["summary"]
    assert summary["image"] == meta["filename_or_obj"]
    assert read_image(summary["outputs"]["mask"])[1] == pytest.approx(SPACING)


def test_reference_without_a_file_name_raises(tmp_path):
    item = _item(tmp_path)
    item["image"] = MetaTensor(item["image"].as_tensor(), affine=torch.eye(4))
    with pytest.raises(ValueError, match="filename_or_obj"):
        _writer(tmp_path / "out")(item)


class _FailsOnSecondRow:
    """A table cell whose text cannot be produced after the first row has been written."""

    calls = 0

    def __str__(self):
        type(self).calls += 1
        if type(self).calls > 1:
            raise RuntimeError("disk full")
        return "ok"


def test_failure_while_writing_a_table_leaves_no_file(tmp_path, monkeypatch):
    real_writer = cellbundles.io.write_centroids_csv

    def failing_writer(path, points, spacing=None, extra_columns=None):
        cells = np.array([_FailsOnSecondRow() for _ in range(len(points))], dtype=object)
        real_writer(path, points, spacing=spacing, extra_columns={**extra_columns, "note": cells})

    monkeypatch.setattr("cellbundles.transforms.outputs.write_centroids_csv", failing_writer)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk full"):
        _writer(out)(_item(tmp_path))
    assert _FailsOnSecondRow.calls == 2
    # the images written before are complete; the table has neither a partial nor a temporary file
    written = sorted(path.name for path in out.iterdir())
    assert written == ["sample_density.tif", "sample_instances.tif", "sample_mask.tif"]
