from __future__ import annotations

import numpy as np
import pytest
import tifffile

from cellbundles.io import atomic_write, full_suffix, write_image


def _visible_and_hidden(folder):
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.parametrize(
    "name, suffix",
    [("a.tif", ".tif"), ("a.OME.TIF", ".OME.TIF"), ("x.nii.gz", ".nii.gz"), ("a.b.png", ".png"), ("noext", "")],
)
def test_full_suffix(name, suffix):
    assert full_suffix(name) == suffix


def test_atomic_write_keeps_suffix_and_replaces(tmp_path):
    target = tmp_path / "sub" / "out.ome.tif"
    with atomic_write(target) as temporary:
        assert temporary.parent == target.parent
        assert temporary.name.endswith(".ome.tif") and temporary.name.startswith(".")
        assert not target.exists()
        temporary.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert _visible_and_hidden(target.parent) == ["out.ome.tif"]


def test_atomic_write_failure_keeps_old_file(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert _visible_and_hidden(tmp_path) == ["out.csv"]


def test_atomic_write_without_output_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="did not create"):
        with atomic_write(tmp_path / "never.tif"):
            pass
    assert _visible_and_hidden(tmp_path) == []


def test_failing_tiff_encoder_leaves_no_file(tmp_path, monkeypatch):
    def half_write_then_fail(path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"II*\x00partial")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", half_write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_image(tmp_path / "volume.tif", np.zeros((4, 8, 8), np.uint8), spacing=(2.0, 0.5, 0.5))
    assert _visible_and_hidden(tmp_path) == []
