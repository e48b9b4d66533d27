"""``two_channel_cells``: the published layouts of seed 004's macrophage dataset and of BBBC020, imitated in tiny
synthetic folders, converted by the shipped manifests' own ``two_channel`` steps into the layout ``cells_fpf_2d``
trains on (two-plane image in the bundle's channel order, cell labels, nucleus labels, datalist)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cellbundles.data.convert import check_converter_parameters, run_converter
from cellbundles.data.datalist import load_datalist
from cellbundles.data.manifest import load_manifest
from cellbundles.io import read_image, read_labels, write_image

REPO = Path(__file__).resolve().parents[2]
SHAPE = (24, 32)


def _step(manifest: str) -> dict:
    (step,) = [step for step in load_manifest(manifest)["conversion"] if step["subset"] == "two_channel"]
    assert step["converter"] == "two_channel_cells"
    return step


def _rect(y0: int, y1: int, x0: int, x1: int, shape=SHAPE) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[y0:y1, x0:x1] = 255
    return mask


def _outline(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """A closed one-pixel rectangle contour (BBBC020's 'outlines', if the files hold contours)."""
    mask = _rect(y0, y1, x0, x1)
    mask[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1] = 0
    return mask


def _channels(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 120, SHAPE, dtype=np.uint8), rng.integers(120, 255, SHAPE, dtype=np.uint8)


# cells: two touching rectangles; nuclei: one small square inside each, written in the order 2, 1
CELLS = [(2, 12, 2, 14), (2, 12, 14, 28)]
NUCLEI = [(5, 9, 18, 22), (5, 9, 5, 9)]


def _macrophage_field(raw: Path, split: str, name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``<top>/<split>/images/<name>/{0,1,rgb}.png`` and ``gt/<name>/{0,1}_<k>.png`` as the authors' loader reads."""
    nucleus, cell = _channels(seed)
    folder = raw / "macrophages" / "synmikro_macrophages" / split
    write_image(folder / "images" / name / "0.png", nucleus)
    write_image(folder / "images" / name / "1.png", cell)
    write_image(folder / "images" / name / "rgb.png", np.stack([np.zeros_like(cell), cell, nucleus], -1), rgb=True)
    for k, box in enumerate(CELLS, start=1):
        write_image(folder / "gt" / name / f"1_{k}.png", _rect(*box))
    for k, box in enumerate(NUCLEI, start=1):
        write_image(folder / "gt" / name / f"0_{k}.png", _rect(*box))
    (folder / "gt" / name / "weights").mkdir()
    (folder / "gt" / name / "weights" / "1_weights.pkl").write_bytes(b"not converted")
    return nucleus, cell


def _false_colour(grey: np.ndarray, channel: int) -> np.ndarray:
    rgb = np.zeros((*grey.shape, 3), dtype=np.uint8)
    rgb[..., channel] = grey
    return rgb


def _bbbc020_field(raw: Path, name: str, seed: int, annotated: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``BBBC020_v1_images/<field>/<field>_c1.TIF`` (cell, red LUT), ``_c5.TIF`` (DAPI, blue LUT), the overlay,
    and one outline file per cell / nucleus in ``BBBC020_v1_outlines_cells`` / ``BBC020_v1_outlines_nuclei``."""
    nucleus, cell = _channels(seed)
    folder = raw / "bbbc020_images" / "BBBC020_v1_images" / name
    write_image(folder / f"{name}_c1.TIF", _false_colour(cell, 0), rgb=True)
    write_image(folder / f"{name}_c5.TIF", _false_colour(nucleus, 2), rgb=True)
    write_image(folder / f"{name}_(c1+c5).TIF", _false_colour(cell, 0) + _false_colour(nucleus, 2), rgb=True)
    if annotated:
        cells = raw / "bbbc020_outlines_cells" / "BBBC020_v1_outlines_cells"
        nuclei = raw / "bbbc020_outlines_nuclei" / "BBC020_v1_outlines_nuclei"  # sic, one B short
        for k, box in enumerate(CELLS, start=1):
            write_image(cells / f"{name}_c1_{k}.TIF", _outline(*box))
        for k, box in enumerate(NUCLEI, start=1):
            write_image(nuclei / f"{name}_c5_{k}.TIF", _outline(*box))
    return nucleus, cell


def _expected(boxes) -> np.ndarray:
    labels = np.zeros(SHAPE, dtype=np.uint16)
    for index, (y0, y1, x0, x1) in enumerate(boxes, start=1):
        labels[y0:y1, x0:x1][labels[y0:y1, x0:x1] == 0] = index
    return labels


def _check_sample(out: Path, sample_id: str, nucleus: np.ndarray, cell: np.ndarray) -> None:
    image, spacing = read_image(out / "images" / f"{sample_id}.tif")
    assert image.shape == (2, *SHAPE) and spacing is None
    # the bundle's channel_def: plane 0 the nucleus stain, plane 1 the cell stain
    channel_def = json.loads((REPO / "bundles" / "cells_fpf_2d" / "configs" / "metadata.json").read_text())[
        "network_data_format"
    ]["inputs"]["image"]["channel_def"]
    assert channel_def["0"].startswith("nucleus") and channel_def["1"].startswith("cell")
    np.testing.assert_array_equal(image[0], nucleus)
    np.testing.assert_array_equal(image[1], cell)
    cells, _ = read_labels(out / "labels" / f"{sample_id}.tif")
    nuclei, _ = read_labels(out / "nuclei" / f"{sample_id}.tif")
    assert cells.dtype == nuclei.dtype == np.uint16
    np.testing.assert_array_equal(cells, _expected(CELLS))  # filled, touching cells kept apart
    np.testing.assert_array_equal(nuclei, _expected(NUCLEI))  # ids in mask-file order


def _ids(out: Path, section: str) -> list[str]:
    return [Path(item["image"]).stem for item in load_datalist(out / "datalist.json", section)]


def test_macrophage_layout_converts_with_the_published_split(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "two_channel"
    fields = {f"train_{i}": _macrophage_field(raw, "train", f"train_{i}", i) for i in range(4)}
    fields["test_0"] = _macrophage_field(raw, "val", "test_0", 10)
    step = _step("macrophages_fpf")
    assert run_converter(step["converter"], raw, out, step["parameters"]) == 5
    for sample_id, (nucleus, cell) in fields.items():
        _check_sample(out, sample_id, nucleus, cell)
    assert _ids(out, "test") == ["test_0"]  # the authors' val folder
    assert sorted(_ids(out, "training") + _ids(out, "validation")) == [f"train_{i}" for i in range(4)]
    assert len(_ids(out, "validation")) == 1
    (item,) = load_datalist(out / "datalist.json", "test")
    assert Path(item["nuclei"]) == out / "nuclei" / "test_0.tif"
    assert Path(item["label"]) == out / "labels" / "test_0.tif"


def test_bbbc020_layout_converts_false_colour_channels_and_outlines(tmp_path, capsys):
    raw, out = tmp_path / "raw", tmp_path / "two_channel"
    fields = {f"jw-1h {i}": _bbbc020_field(raw, f"jw-1h {i}", i) for i in range(1, 6)}
    _bbbc020_field(raw, "jw-Kontrolle 1", 9, annotated=False)
    step = _step("bbbc020")
    assert run_converter(step["converter"], raw, out, step["parameters"]) == 5
    assert "skipped 1 image(s) without cell masks: jw-Kontrolle 1" in capsys.readouterr().err
    for sample_id, (nucleus, cell) in fields.items():
        _check_sample(out, sample_id, nucleus, cell)
    sections = [_ids(out, section) for section in ("training", "validation", "test")]
    assert sorted(sum(sections, [])) == sorted(fields) and [len(ids) for ids in sections] == [3, 1, 1]


def test_channel_order_is_configurable(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    nucleus, cell = _bbbc020_field(raw, "f", 0)
    parameters = dict(_step("bbbc020")["parameters"], channel_order=["cell", "nucleus"])
    run_converter("two_channel_cells", raw, out, parameters)
    image, _ = read_image(out / "images" / "f.tif")
    np.testing.assert_array_equal(image[0], cell)
    np.testing.assert_array_equal(image[1], nucleus)
    with pytest.raises(ValueError, match="channel_order must be a permutation"):
        run_converter("two_channel_cells", raw, tmp_path / "bad", dict(parameters, channel_order=["cell", "cell"]))


def _bbbc_file(raw: Path, kind: str) -> Path:
    if kind == "nucleus":
        return raw / "bbbc020_images" / "BBBC020_v1_images" / "f" / "f_c5.TIF"
    if kind == "cell":
        return raw / "bbbc020_images" / "BBBC020_v1_images" / "f" / "f_c1.TIF"
    return raw / "bbbc020_outlines_cells" / "BBBC020_v1_outlines_cells" / "f_c1_2.TIF"


@pytest.mark.parametrize(
    "kind, damage, message",
    [
        ("nucleus", lambda path: write_image(path, np.zeros((20, 32), np.uint8)), "nucleus image shape .* differs"),
        ("mask", lambda path: write_image(path, np.zeros((24, 30), np.uint8)), "mask shape .* differs"),
        ("cell", lambda path: path.write_bytes(b"not a TIFF"), "cannot read TIFF file"),
        ("cell", lambda path: write_image(path, np.zeros((3, *SHAPE), np.uint8)), "2D single-channel"),
        ("nucleus", lambda path: path.unlink(), "no nucleus image matches"),
    ],
    ids=["nucleus-size", "mask-size", "corrupt-cell", "cell-stack", "nucleus-missing"],
)
def test_malformed_inputs_name_the_file(tmp_path, kind, damage, message):
    raw = tmp_path / "raw"
    _bbbc020_field(raw, "f", 0)
    damaged = _bbbc_file(raw, kind)
    damage(damaged)
    named = damaged if damaged.exists() else _bbbc_file(raw, "cell")
    with pytest.raises(ValueError, match=message) as error:
        run_converter("two_channel_cells", raw, tmp_path / "out", _step("bbbc020")["parameters"])
    assert str(error.value).startswith(str(named))


def test_colour_channel_is_refused_without_reduction(tmp_path):
    raw = tmp_path / "raw"
    _bbbc020_field(raw, "f", 0)
    cell = _bbbc_file(raw, "cell")
    write_image(cell, np.dstack([_channels(0)[1], _channels(1)[1], _channels(2)[1]]), rgb=True)
    parameters = dict(_step("bbbc020")["parameters"], channel_reduce=None)
    with pytest.raises(ValueError, match=r"colour image .*channel_reduce") as error:
        run_converter("two_channel_cells", raw, tmp_path / "out", parameters)
    assert str(error.value).startswith(str(cell))


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="missing a required argument: 'nucleus_masks'"):
        check_converter_parameters(
            "two_channel_cells",
            {"cell_images": "{id}_c1.tif", "nucleus_images": "{id}_c5.tif", "cell_masks": "{id}_*.tif"},
        )
    with pytest.raises(ValueError, match=r"'\*\*' must be a whole folder"):
        check_converter_parameters(
            "two_channel_cells",
            {
                "cell_images": "{id}.tif",
                "nucleus_images": "{id}_n.tif",
                "cell_masks": "a/**{id}_*.tif",
                "nucleus_masks": "{id}_*.tif",
            },
        )
