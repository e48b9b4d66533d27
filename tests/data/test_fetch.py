"""Tests of cellbundles.data.fetch and cellbundles.data.convert against a loopback HTTP server.

Nothing here touches a real URL: a ``http.server`` on 127.0.0.1 (port 0) serves archives that the tests
build in ``tmp_path``, with HTTP Range support so that resuming is exercised.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from cellbundles.data.convert import (
    check_converter_parameters,
    convert_paired_files,
    convert_per_object_masks,
    decode_rle,
)
from cellbundles.data.fetch import download, fetch_dataset, safe_extract
from cellbundles.io import read_centroids_csv, read_image, write_image

REPO = Path(__file__).resolve().parents[2]


class _Server:
    """Loopback HTTP server over a folder; records (path, Range header, bytes to send) per GET."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[tuple[str, str | None, int]] = []
        self.honour_range = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                path = server.root / self.path.lstrip("/")
                range_header = self.headers.get("Range")
                if not path.is_file():
                    server.requests.append((self.path, range_header, 0))
                    self.send_error(404)
                    return
                data = path.read_bytes()
                start = 0
                if range_header and server.honour_range:
                    start = int(range_header.split("=")[1].split("-")[0])
                    if start >= len(data):
                        server.requests.append((self.path, range_header, 0))
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                # recorded before the body goes out: the client may return (and the test assert) as soon as it has it
                server.requests.append((self.path, range_header, len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    running = _Server(root)
    yield running
    running.close()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- download


def test_resume_requests_only_the_remaining_bytes(server, tmp_path):
    payload = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    (server.root / "blob.bin").write_bytes(payload)
    dest = tmp_path / "out" / "blob.bin"
    dest.parent.mkdir()
    (dest.parent / "blob.bin.part").write_bytes(payload[:100_000])
    result = download(f"{server.url}/blob.bin", dest, sha256=sha256_of(payload), progress=False)
    assert result == dest and dest.read_bytes() == payload
    assert server.requests == [("/blob.bin", "bytes=100000-", 200_000)]
    assert not (dest.parent / "blob.bin.part").exists()


def test_server_without_range_support_restarts_the_file(server, tmp_path):
    payload = b"0123456789" * 1000
    (server.root / "blob.bin").write_bytes(payload)
    server.honour_range = False
    dest = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(b"stale bytes")
    download(f"{server.url}/blob.bin", dest, sha256=sha256_of(payload), progress=False)
    assert dest.read_bytes() == payload
    assert server.requests[0][2] == len(payload)


def test_complete_part_file_is_finished_without_data(server, tmp_path):
    payload = b"abc" * 100
    (server.root / "blob.bin").write_bytes(payload)
    (tmp_path / "blob.bin.part").write_bytes(payload)
    download(f"{server.url}/blob.bin", tmp_path / "blob.bin", sha256=sha256_of(payload), progress=False)
    assert (tmp_path / "blob.bin").read_bytes() == payload
    assert server.requests == [("/blob.bin", f"bytes={len(payload)}-", 0)]


def test_wrong_checksum_raises_and_leaves_nothing(server, tmp_path):
    (server.root / "blob.bin").write_bytes(b"payload")
    dest_dir = tmp_path / "out"
    url = f"{server.url}/blob.bin"
    with pytest.raises(ValueError) as info:
        download(url, dest_dir / "blob.bin", sha256="0" * 64, progress=False)
    message = str(info.value)
    assert url in message and "0" * 64 in message and sha256_of(b"payload") in message
    assert list(dest_dir.iterdir()) == []


def test_existing_verified_file_is_not_downloaded_again(server, tmp_path):
    (server.root / "blob.bin").write_bytes(b"payload")
    (tmp_path / "blob.bin").write_bytes(b"payload")
    download(f"{server.url}/blob.bin", tmp_path / "blob.bin", sha256=sha256_of(b"payload"), progress=False)
    assert server.requests == []


def test_unknown_digest_is_printed_and_http_errors_are_clear(server, tmp_path, capsys):
    (server.root / "blob.bin").write_bytes(b"payload")
    download(f"{server.url}/blob.bin", tmp_path / "blob.bin", progress=True)
    err = capsys.readouterr().err
    assert sha256_of(b"payload") in err and "blob.bin" in err
    with pytest.raises(OSError, match="HTTP 404"):
        download(f"{server.url}/absent.bin", tmp_path / "absent.bin", progress=False)
    assert not (tmp_path / "absent.bin").exists()


# ---------------------------------------------------------------- safe extraction


def _tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as handle:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            handle.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _file(name: str, data: bytes = b"data") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def _assert_refused(archive: Path, dest: Path, member: str, outside: list[Path]) -> None:
    with pytest.raises(ValueError, match="refusing to extract") as info:
        safe_extract(archive, dest)
    assert str(archive) in str(info.value) and member in str(info.value)
    assert not dest.exists()
    assert [p.name for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}")] == []
    for path in outside:
        assert not path.exists()


def test_zip_with_parent_traversal_is_refused(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("good.txt", "fine")
        handle.writestr("../evil.txt", "evil")
    work = tmp_path / "work"
    work.mkdir()
    _assert_refused(archive, work / "dest", "../evil.txt", [tmp_path / "evil.txt", work / "evil.txt"])


def test_tar_with_absolute_path_is_refused(tmp_path):
    outside = tmp_path / "outside" / "abs.txt"
    archive = tmp_path / "abs.tar"
    archive.write_bytes(_tar_bytes([_file("good.txt"), _file(str(outside))]))
    _assert_refused(archive, tmp_path / "dest", str(outside).lstrip("/"), [outside])


def test_tar_with_escaping_symlink_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tmp_path / "link.tar.gz"
    archive.write_bytes(_tar_bytes([_link("link", "../outside"), _file("link/evil.txt")], mode="w:gz"))
    _assert_refused(archive, tmp_path / "dest", "link", [outside / "evil.txt"])


def test_tar_with_symlink_chain_escaping_on_disk_is_refused(tmp_path):
    # 'loop' -> '.' is harmless by name, but 'up' -> 'loop/..' then resolves to the parent of dest.
    archive = tmp_path / "chain.tar"
    archive.write_bytes(_tar_bytes([_link("loop", "."), _link("up", "loop/.."), _file("up/evil.txt")]))
    _assert_refused(archive, tmp_path / "dest", "up", [tmp_path / "evil.txt"])


def test_tar_with_hard_link_outside_or_device_is_refused(tmp_path):
    archive = tmp_path / "hard.tar"
    archive.write_bytes(_tar_bytes([_link("hard", "../../etc/passwd", tarfile.LNKTYPE)]))
    _assert_refused(archive, tmp_path / "dest", "hard", [])
    device = tarfile.TarInfo("dev")
    device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 3
    archive = tmp_path / "dev.tar"
    archive.write_bytes(_tar_bytes([(device, None)]))
    _assert_refused(archive, tmp_path / "dest2", "dev", [])


@pytest.mark.parametrize(
    "mode, suffix", [("w", ".tar"), ("w:gz", ".tar.gz"), ("w:bz2", ".tar.bz2"), ("w:xz", ".tar.xz")]
)
def test_safe_tar_archives_extract_completely(tmp_path, mode, suffix):
    archive = tmp_path / f"good{suffix}"
    archive.write_bytes(
        _tar_bytes([_file("top/a.txt", b"A"), _file("top/sub/b.txt", b"B"), _link("top/alias.txt", "a.txt")], mode)
    )
    dest = safe_extract(archive, tmp_path / "dest")
    assert (dest / "top" / "a.txt").read_bytes() == b"A"
    assert (dest / "top" / "sub" / "b.txt").read_bytes() == b"B"
    assert (dest / "top" / "alias.txt").read_bytes() == b"A"  # a link inside dest is fine
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([archive.name, "dest"])


def test_extract_refuses_existing_target_and_non_archives(tmp_path):
    archive = tmp_path / "good.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("a.txt", "A")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(FileExistsError):
        safe_extract(archive, tmp_path / "full")
    (tmp_path / "empty").mkdir()
    assert (safe_extract(archive, tmp_path / "empty") / "a.txt").read_text() == "A"
    text = tmp_path / "notes.txt"
    text.write_text("not an archive")
    with pytest.raises(ValueError, match="notes.txt.*not a zip or tar"):
        safe_extract(text, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


# ---------------------------------------------------------------- fetch + convert


def _dsb_sample(folder: Path, sample_id: str, masks: list[np.ndarray], grey: np.ndarray) -> None:
    rgba = np.stack([grey, grey, grey, np.full_like(grey, 255)], axis=-1)
    write_image(folder / sample_id / "images" / f"{sample_id}.png", rgba, rgb=True)
    for index, mask in enumerate(masks):
        write_image(folder / sample_id / "masks" / f"m{index}.png", mask.astype(np.uint8) * 255)


def _rect(shape, y0, y1, x0, x1) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _zip_folder(folder: Path, archive: Path) -> bytes:
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                handle.write(path, path.relative_to(folder).as_posix())
    return archive.read_bytes()


@pytest.fixture
def dsb_manifest(server, tmp_path):
    """A DSB-like dataset (train zip with mask PNGs, test zip + run-length CSV) served over HTTP."""
    shape = (8, 10)
    grey = np.arange(80, dtype=np.uint8).reshape(shape)
    source = tmp_path / "source_train"
    _dsb_sample(source, "aaa", [_rect(shape, 0, 3, 0, 3), _rect(shape, 2, 5, 2, 5)], grey)  # overlap at (2, 2)
    _dsb_sample(source, "bbb", [_rect(shape, 5, 8, 6, 10)], grey[::-1].copy())
    train = _zip_folder(source, server.root / "train.zip")
    test_source = tmp_path / "source_test"
    _dsb_sample(test_source, "ccc", [], grey)
    test = _zip_folder(test_source, server.root / "test.zip")
    # two nuclei of image ccc: rows 1-2 of columns 0-1 (column-major numbering from 1), then pixel (0, 5)
    table = "ImageId,EncodedPixels,Height,Width,Usage\nccc,2 2 10 2,8,10,Public\nccc,41 1,8,10,Public\n"
    (server.root / "solution.csv").write_text(table)
    files = [("train.zip", train, "zip"), ("test.zip", test, "zip"), ("solution.csv", table.encode(), "csv")]
    manifest = {
        "name": "dsb_test",
        "title": "DSB-like test data",
        "description": "built by the test",
        "homepage": server.url,
        "citation": [{"text": "test"}],
        "licence": {"name": "CC0 1.0"},
        "files": [
            {
                "url": f"{server.url}/{name}",
                "filename": name,
                "size_bytes": len(data),
                "sha256": sha256_of(data),
                "format": fmt,
            }
            for name, data, fmt in files
        ],
        "spacing": {"zyx_um": None, "note": "unknown"},
        "layout": {"train/<id>/images/<id>.png": "images"},
        "conversion": [
            {"subset": "train", "converter": "dsb2018", "parameters": {"root": "train"}},
            {"subset": "train_png", "converter": "dsb2018", "parameters": {"root": "train", "image_format": "copy"}},
            {
                "subset": "test",
                "converter": "dsb2018_rle",
                "parameters": {"images": "test/**/{id}/images/{id}.png", "solution": "solution.csv"},
            },
        ],
    }
    return manifest, grey


def test_fetch_dataset_downloads_verifies_extracts_and_converts(server, tmp_path, dsb_manifest):
    manifest, grey = dsb_manifest
    dest = tmp_path / "dataset"
    subsets = fetch_dataset(manifest, dest, progress=False)
    assert subsets == {"train": dest / "train", "train_png": dest / "train_png", "test": dest / "test"}
    assert sorted(p.name for p in (dest / "downloads").iterdir()) == ["solution.csv", "test.zip", "train.zip"]

    image, _ = read_image(dest / "train" / "images" / "aaa.tif")
    np.testing.assert_array_equal(image, grey)  # RGBA with R = G = B becomes one grey channel
    labels, _ = read_image(dest / "train" / "labels" / "aaa.tif")
    assert labels.dtype == np.uint16
    expected = np.zeros((8, 10), dtype=np.uint16)
    expected[2:5, 2:5] = 2
    expected[0:3, 0:3] = 1  # mask files in sorted order; the earlier mask keeps the overlap
    np.testing.assert_array_equal(labels, expected)
    labels_b, _ = read_image(dest / "train" / "labels" / "bbb.tif")
    assert np.unique(labels_b).tolist() == [0, 1] and labels_b[5:8, 6:10].all()

    copied = dest / "train_png" / "images" / "aaa.png"
    assert copied.read_bytes() == (dest / "raw" / "train" / "aaa" / "images" / "aaa.png").read_bytes()

    test_labels, _ = read_image(dest / "test" / "labels" / "ccc.tif")
    expected_test = np.zeros((8, 10), dtype=np.uint16)
    expected_test[1:3, 0:2] = 1
    expected_test[0, 5] = 2
    np.testing.assert_array_equal(test_labels, expected_test)

    before = len(server.requests)
    assert fetch_dataset(manifest, dest, progress=False) == subsets  # second run: nothing to do
    assert len(server.requests) == before
    assert not list(dest.rglob("*.part")) and not [p for p in dest.iterdir() if p.name.startswith(".")]


def test_fetch_dataset_without_conversion_and_with_bad_checksum(server, tmp_path, dsb_manifest):
    manifest, _ = dsb_manifest
    dest = tmp_path / "dataset"
    assert fetch_dataset(manifest, dest, convert=False, progress=False) == {}
    assert (dest / "raw" / "train" / "aaa" / "masks" / "m1.png").is_file()
    assert (dest / "raw" / "solution.csv").is_file() and not (dest / "train").exists()

    manifest["files"][0]["sha256"] = "f" * 64
    other = tmp_path / "other"
    with pytest.raises(ValueError, match="sha256 mismatch"):
        fetch_dataset(manifest, other, progress=False)
    assert not (other / "downloads" / "train.zip").exists() and not (other / "raw" / "train").exists()


def test_files_placed_under_raw_are_converted_without_downloading(server, tmp_path, dsb_manifest):
    manifest, grey = dsb_manifest
    fetch_dataset(manifest, tmp_path / "first", convert=False, progress=False)
    dest = tmp_path / "by_hand"
    shutil.copytree(tmp_path / "first" / "raw", dest / "raw")  # e.g. archives extracted elsewhere
    before = len(server.requests)
    subsets = fetch_dataset(manifest, dest, progress=False)
    assert len(server.requests) == before and not (dest / "downloads").exists()
    image, _ = read_image(subsets["train"] / "images" / "aaa.tif")
    np.testing.assert_array_equal(image, grey)


def test_fetch_refuses_an_invalid_manifest_before_downloading(server, tmp_path, dsb_manifest):
    manifest, _ = dsb_manifest
    manifest["conversion"][0]["parameters"]["typo"] = 1
    with pytest.raises(ValueError, match="typo"):
        fetch_dataset(manifest, tmp_path / "dataset", progress=False)
    assert server.requests == []


def test_failed_conversion_leaves_no_subset_folder(server, tmp_path, dsb_manifest):
    manifest, _ = dsb_manifest
    manifest["conversion"] = [{"subset": "train", "converter": "dsb2018", "parameters": {"root": "no_such_folder"}}]
    with pytest.raises(ValueError, match="no file matches the image pattern"):
        fetch_dataset(manifest, tmp_path / "dataset", progress=False)
    assert sorted(p.name for p in (tmp_path / "dataset").iterdir()) == ["downloads", "raw"]


def test_cli_lists_and_fetches(server, tmp_path, dsb_manifest):
    manifest, _ = dsb_manifest
    path = tmp_path / "dsb_test.json"
    path.write_text(json.dumps(manifest))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    script = str(REPO / "scripts" / "fetch_data.py")
    listed = subprocess.run([sys.executable, script, "--list"], capture_output=True, text=True, env=env, check=True)
    assert "bbbc038" in listed.stdout and "macrophages_fpf" in listed.stdout
    done = subprocess.run(
        [sys.executable, script, str(path), "--dest", str(tmp_path / "ds"), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ds" / "test" / "labels" / "ccc.tif").is_file()
    manifest["files"][0]["sha256"] = "e" * 64
    path.write_text(json.dumps(manifest))
    failed = subprocess.run(
        [sys.executable, script, str(path), "--dest", str(tmp_path / "ds2"), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert failed.returncode == 1 and "sha256 mismatch" in failed.stderr


# ---------------------------------------------------------------- converters


def test_decode_rle_is_column_major_and_one_based():
    mask = decode_rle("1 3 7 1", (3, 4))
    expected = np.zeros((3, 4), dtype=bool)
    expected[:, 0] = True  # pixels 1-3: the first column, top to bottom
    expected[0, 2] = True  # pixel 7: first row of the third column
    np.testing.assert_array_equal(mask, expected)
    assert not decode_rle("", (2, 2)).any()
    with pytest.raises(ValueError, match="odd number"):
        decode_rle("1 2 3", (3, 4))
    with pytest.raises(ValueError, match="outside"):
        decode_rle("12 2", (3, 4))


def test_paired_files_binary_labels_markers_and_spacing_3d(tmp_path):
    raw = tmp_path / "raw"
    image = np.arange(4 * 6 * 8, dtype=np.uint16).reshape(4, 6, 8)
    binary = np.zeros((4, 6, 8), dtype=np.uint8)
    binary[0:2, 0:2, 0:2] = 255
    binary[2:4, 3:6, 5:8] = 255
    markers = np.zeros_like(binary)
    markers[1, 1, 1] = 255
    markers[3, 4, 6] = markers[3, 4, 7] = 255
    write_image(raw / "repo-abc" / "raw" / "e1.tif", image, spacing=(2.0, 0.5, 0.5))
    write_image(raw / "repo-abc" / "seg" / "e1.tif", binary)
    write_image(raw / "repo-abc" / "det" / "E1.TIF", markers)  # matching ignores case
    write_image(raw / "repo-abc" / "raw" / "unlabelled.tif", image)
    out = tmp_path / "out"
    count = convert_paired_files(
        raw,
        out,
        images="repo-*/raw/{id}.tif",
        labels="repo-*/seg/{id}.tif",
        markers="repo-*/det/{id}.tif",
        label_type="binary",
    )
    assert count == 1  # 'unlabelled' has no labels and is skipped
    labels, spacing = read_image(out / "labels" / "e1.tif")
    assert spacing == pytest.approx((2.0, 0.5, 0.5))
    assert sorted(np.unique(labels).tolist()) == [0, 1, 2]
    assert labels[0, 0, 0] != labels[3, 5, 7]
    written, written_spacing = read_image(out / "images" / "e1.tif")
    np.testing.assert_array_equal(written, image)
    assert written_spacing == pytest.approx((2.0, 0.5, 0.5))
    np.testing.assert_allclose(read_centroids_csv(out / "centroids" / "e1.csv"), [[1, 1, 1], [3, 4, 6.5]])
    table = (out / "centroids" / "e1.csv").read_text().splitlines()
    assert table[0].split(",")[-1] == "label"
    assert [int(row.split(",")[-1]) for row in table[1:]] == [labels[1, 1, 1], labels[3, 4, 6]]


def test_paired_files_flip_crop_and_shape_errors(tmp_path):
    raw = tmp_path / "raw"
    image = np.arange(3 * 5 * 4, dtype=np.uint16).reshape(3, 5, 4)
    labels = np.zeros((3, 6, 4), dtype=np.uint16)
    labels[:, 5, :] = 7  # last row along y; after the flip it is row 0
    write_image(raw / "s" / "s_img.tif", image, rgb=False)  # a last axis of 4 voxels, not RGBA
    write_image(raw / "s" / "s_lab.tif", labels, rgb=False)
    with pytest.raises(ValueError, match="label shape"):
        convert_paired_files(raw, tmp_path / "bad", images="**/{id}/{id}_img.tif", labels="**/{id}/{id}_lab.tif")
    convert_paired_files(
        raw,
        tmp_path / "out",
        images="**/{id}/{id}_img.tif",
        labels="**/{id}/{id}_lab.tif",
        flip_label_axes=[1],
        crop_to_common_shape=True,
    )
    written, _ = read_image(tmp_path / "out" / "labels" / "s.tif")
    assert written.shape == (3, 5, 4)
    assert (written[:, 0, :] == 7).all() and (written[:, 1:, :] == 0).all()


def test_per_object_masks_reduce_colour_and_pair_deep_folders(tmp_path):
    raw = tmp_path / "raw"
    rgb = np.zeros((6, 7, 3), dtype=np.uint8)
    rgb[..., 2] = 200  # a false-colour image: signal in blue only
    write_image(raw / "top" / "train" / "images" / "f 1" / "0.png", rgb, rgb=True)
    for split in ("train", "val"):
        write_image(raw / "top" / split / "gt" / "f 1" / "0_1.png", _rect((6, 7), 0, 2, 0, 2).astype(np.uint8) * 255)
    write_image(raw / "top" / "val" / "gt" / "f 1" / "0_2.png", _rect((6, 7), 4, 6, 4, 7).astype(np.uint8) * 255)
    out = tmp_path / "out"
    count = convert_per_object_masks(
        raw, out, images="top/**/images/{id}/0.png", masks="top/**/gt/{id}/0_*.png", channel_reduce="max"
    )
    assert count == 1
    image, _ = read_image(out / "images" / "f 1.tif")
    assert image.shape == (6, 7) and (image == 200).all()
    labels, _ = read_image(out / "labels" / "f 1.tif")
    assert labels.max() == 1 and labels[0:2, 0:2].all()  # '**/' pairs train/gt only, not val/gt of the same id


def test_pattern_and_parameter_errors(tmp_path):
    (tmp_path / "a.tif").write_bytes(b"")
    with pytest.raises(ValueError, match="must contain"):
        convert_paired_files(tmp_path, tmp_path / "out", images="*.tif", labels="{id}.tif")
    with pytest.raises(ValueError, match="no file matches"):
        convert_paired_files(tmp_path, tmp_path / "out", images="{id}.png", labels="{id}_lab.png")
    with pytest.raises(ValueError, match=r"'\*\*/' must start a folder"):
        check_converter_parameters("paired_files", {"images": "a**/{id}.tif", "labels": "{id}.tif"})
    with pytest.raises(ValueError, match=r"'\*\*' must be a whole folder"):
        check_converter_parameters("paired_files", {"images": "a/**{id}.tif", "labels": "{id}.tif"})
    with pytest.raises(ValueError, match="missing a required argument: 'labels'"):
        check_converter_parameters("paired_files", {"images": "{id}.tif"})


def test_paired_files_reproduces_the_vendored_qcanet_sample(tmp_path):
    sample = REPO / "data" / "samples" / "qcanet_mouse_embryo_3d"
    count = convert_paired_files(
        sample,
        tmp_path / "out",
        images="images/{id}.tif",
        labels="labels/{id}.tif",
        label_type="binary",
        markers="markers/{id}.tif",
    )
    assert count == 1
    labels, _ = read_image(tmp_path / "out" / "labels" / "8_cell_stage.tif")
    reference, _ = read_image(sample / "labels" / "8_cell_stage.tif")
    np.testing.assert_array_equal(labels, reference)  # components of the binary mask = the vendored instances
    np.testing.assert_allclose(
        read_centroids_csv(tmp_path / "out" / "centroids" / "8_cell_stage.csv"),
        read_centroids_csv(sample / "centroids" / "8_cell_stage.csv"),
    )
