"""Downloads with resume and sha256 verification, safe archive extraction, and whole-dataset fetching.

:func:`fetch_dataset` reads a manifest (:mod:`cellbundles.data.manifest`) and fills a destination folder::

    <dest>/downloads/<filename>       the files as published (kept, so a second run does not download again)
    <dest>/raw/<extract_to>/...       each archive, extracted; other files are copied to raw/<filename>
    <dest>/<subset>/images/<id>.tif   the canonical layout written by the manifest's conversion steps
    <dest>/<subset>/labels/<id>.tif
    <dest>/<subset>/centroids/<id>.csv  (where the dataset has centre markers)

Every step is atomic (temporary name in the same folder, then rename), so an interrupted run leaves
either a complete result or a resumable ``.part`` download, and a rerun continues where it stopped.
Nothing here touches the network at import time.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import posixpath
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from cellbundles.data.convert import run_converter
from cellbundles.data.layout import DOWNLOADS_DIR, RAW_DIR
from cellbundles.data.manifest import is_archive_entry, load_manifest, raw_entry_name, validate_manifest
from cellbundles.io import atomic_write

__all__ = ["download", "fetch_dataset", "file_sha256", "safe_extract"]

_CHUNK_BYTES = 1 << 20
_PROGRESS_INTERVAL_S = 0.5
_USER_AGENT = "cellbundles-fetch/0.1 (+python urllib)"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Progress:
    """Throttled one-line progress report on stderr."""

    def __init__(self, label: str, total: int | None, done: int, enabled: bool) -> None:
        self.label, self.total, self.done, self.enabled = label, total, done, enabled
        self._last = 0.0

    def update(self, n_bytes: int) -> None:
        self.done += n_bytes
        now = time.monotonic()
        if self.enabled and now - self._last >= _PROGRESS_INTERVAL_S:
            self._last = now
            self._write()

    def close(self) -> None:
        if self.enabled:
            self._write()
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _write(self) -> None:
        done_mb = self.done / 1e6
        if self.total:
            text = f"{done_mb:.1f}/{self.total / 1e6:.1f} MB ({100.0 * self.done / self.total:.0f}%)"
        else:
            text = f"{done_mb:.1f} MB"
        sys.stderr.write(f"\r{self.label}: {text}")
        sys.stderr.flush()


def _verify_complete_file(path: Path, url: str, sha256: str | None, size_bytes: int | None) -> None:
    """Check size and digest of a finished download; delete it and raise ValueError on a mismatch."""
    if size_bytes is not None and path.stat().st_size != size_bytes:
        actual_size = path.stat().st_size
        path.unlink()
        raise ValueError(f"{url}: size mismatch: expected {size_bytes} bytes, got {actual_size}; the file was deleted.")
    actual = file_sha256(path)
    if sha256 is None:
        sys.stderr.write(f"sha256 of {path.name} ({url}): {actual} (not published; record it in the manifest)\n")
    elif actual != sha256.lower():
        path.unlink()
        raise ValueError(f"{url}: sha256 mismatch: expected {sha256.lower()}, got {actual}; the file was deleted.")


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    resume: bool = True,
    progress: bool = True,
    timeout: float = 60,
    size_bytes: int | None = None,
) -> Path:
    """Download ``url`` to ``dest``, resuming a partial download and verifying its sha256.

    Data go to ``<dest>.part``; an interrupted transfer leaves that file behind and the next call asks the
    server for the remaining bytes only (HTTP ``Range``; a server that ignores it sends the whole file,
    which then replaces the partial one). When the transfer is complete the file is verified and renamed
    to ``dest``. An existing ``dest`` is verified and kept when it matches (a file without a known
    digest is kept as it is), and downloaded again when it does not.

    Args:
        url: http(s), ftp or file URL.
        dest: the final file path; missing parent folders are created.
        sha256: expected hex digest; None skips the check and prints the digest on stderr instead.
        resume: continue an existing ``<dest>.part``; False starts from scratch.
        progress: report progress on stderr.
        timeout: socket timeout in seconds.
        size_bytes: expected size in bytes, checked when given.

    Returns:
        ``dest`` as a Path.

    Raises:
        ValueError: the downloaded file has the wrong sha256 or size; the message names the url, the
            expected and the actual value, and the file is deleted (no ``dest``, no ``.part``).
        OSError: the transfer failed or ended early; the ``.part`` file is kept for a later resume.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        if sha256 is None or file_sha256(dest) == sha256.lower():
            return dest
        sys.stderr.write(f"{dest}: existing file does not match its sha256; downloading it again.\n")
        dest.unlink()
    part = dest.with_name(dest.name + ".part")
    if not resume:
        part.unlink(missing_ok=True)
    offset = part.stat().st_size if part.exists() else 0

    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the partial file already holds every byte
            os.replace(part, dest)
            _verify_complete_file(dest, url, sha256, size_bytes)
            return dest
        raise OSError(f"{url}: download failed: HTTP {exc.code} {exc.reason}.") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise OSError(f"{url}: download failed: {exc}.") from exc

    with response:
        status = getattr(response, "status", None) or response.getcode()
        appending = bool(offset) and status == 206
        if appending:
            content_range = response.headers.get("Content-Range", "")
            match = re.match(r"bytes (\d+)-", content_range)
            if match is None or int(match.group(1)) != offset:
                raise OSError(f"{url}: server answered the range request from byte {offset} with {content_range!r}.")
        else:
            offset = 0
        length = response.headers.get("Content-Length")
        expected_total = offset + int(length) if length is not None else size_bytes
        report = _Progress(dest.name, expected_total, offset, progress)
        received = 0
        try:
            with open(part, "ab" if appending else "wb") as handle:
                for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
                    handle.write(chunk)
                    received += len(chunk)
                    report.update(len(chunk))
        except (OSError, http.client.HTTPException) as exc:
            raise OSError(
                f"{url}: download interrupted after {offset + received} bytes ({exc}); rerun to resume."
            ) from exc
        finally:
            report.close()
    if length is not None and received != int(length):
        raise OSError(f"{url}: download ended after {offset + received} of {expected_total} bytes; rerun to resume.")
    os.replace(part, dest)
    _verify_complete_file(dest, url, sha256, size_bytes)
    return dest


def _member_problem(name: str) -> str | None:
    """Why an archive member name must not be extracted, or None when it is a safe relative path."""
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or re.match(r"^[A-Za-z]:", normalised):
        return "absolute path"
    if ".." in normalised.split("/"):
        return "path traversal ('..')"
    if "\x00" in normalised:
        return "NUL character in the name"
    return None


def _link_target_problem(member_name: str, target: str, relative_to_member: bool) -> str | None:
    """Why a link target escapes the extraction folder (checked on the names only), or None."""
    normalised = target.replace("\\", "/")
    if normalised.startswith("/") or re.match(r"^[A-Za-z]:", normalised):
        return f"link to an absolute path {target!r}"
    base = posixpath.dirname(member_name.replace("\\", "/")) if relative_to_member else ""
    resolved = posixpath.normpath(posixpath.join(base, normalised))
    if resolved == ".." or resolved.startswith("../"):
        return f"link pointing outside the destination ({target!r})"
    return None


def _inside(root: Path, path: str | os.PathLike) -> bool:
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root + os.sep)


def _refuse(archive: Path, member: str, reason: str) -> ValueError:
    return ValueError(f"{archive}: refusing to extract member {member!r}: {reason}.")


def _check_zip(archive: Path, handle: zipfile.ZipFile) -> None:
    for info in handle.infolist():
        problem = _member_problem(info.filename)
        mode = info.external_attr >> 16
        if problem is None and stat.S_ISLNK(mode):
            problem = _link_target_problem(info.filename, handle.read(info).decode("utf-8", "replace"), True)
        if problem is None and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            problem = "device, FIFO or socket entry"
        if problem is not None:
            raise _refuse(archive, info.filename, problem)


def _check_tar_member(archive: Path, member: tarfile.TarInfo) -> None:
    problem = _member_problem(member.name)
    if problem is None and member.issym():
        problem = _link_target_problem(member.name, member.linkname, True)
    elif problem is None and member.islnk():
        problem = _member_problem(member.linkname) or _link_target_problem(member.name, member.linkname, False)
    if problem is None and not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        problem = "device, FIFO or other special file"
    if problem is not None:
        raise _refuse(archive, member.name, problem)


def _extract_tar(archive: Path, handle: tarfile.TarFile, target: Path) -> None:
    members = handle.getmembers()
    for member in members:  # refuse on the names before anything is written
        _check_tar_member(archive, member)
    data_filter = getattr(tarfile, "data_filter", None)
    for member in members:
        # Checked again on the real file system: a symlink extracted earlier may redirect a later path.
        destination = target / member.name
        if not _inside(target, destination.parent):
            raise _refuse(archive, member.name, "its folder resolves outside the destination through a link")
        if member.issym() and not _inside(target, os.path.join(os.path.realpath(destination.parent), member.linkname)):
            raise _refuse(archive, member.name, f"link pointing outside the destination ({member.linkname!r})")
        if member.islnk() and not _inside(target, target / member.linkname):
            raise _refuse(archive, member.name, f"hard link pointing outside the destination ({member.linkname!r})")
        try:
            if data_filter is not None:
                handle.extract(member, target, set_attrs=False, filter=data_filter)
            else:
                handle.extract(member, target, set_attrs=False)
        except tarfile.TarError as exc:
            raise _refuse(archive, member.name, str(exc)) from exc


def _extract_zip(archive: Path, handle: zipfile.ZipFile, target: Path) -> None:
    _check_zip(archive, handle)
    handle.extractall(target)  # zipfile writes link entries as plain files, so no path can leave target


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract a zip or tar (plain, .gz, .bz2, .xz) archive without letting it write outside ``dest``.

    Every member is checked before anything is written: absolute paths, ``..`` components, links whose
    target lies outside ``dest`` and device/FIFO entries are refused. The archive is extracted into a
    temporary folder next to ``dest`` which is renamed to ``dest`` only when extraction succeeded, so
    ``dest`` is either complete or absent. The format is recognised from the content, not the name.

    Args:
        archive: the archive file.
        dest: the folder to create; it must not exist yet (an empty folder is allowed).

    Returns:
        ``dest`` as a Path.

    Raises:
        ValueError: ``"<archive>: refusing to extract member '<name>': <reason>."`` for an unsafe member,
            or a message naming the archive when it is neither zip nor tar or is corrupt.
        FileExistsError: ``dest`` exists and is not an empty folder.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest}: extraction target already exists and is not an empty folder.")
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: archive not found.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{dest.name}.extract-", dir=dest.parent))
    try:
        if zipfile.is_zipfile(archive):
            try:
                with zipfile.ZipFile(archive) as handle:
                    _extract_zip(archive, handle, temporary)
            except zipfile.BadZipFile as exc:
                raise ValueError(f"{archive}: corrupt zip archive ({exc}).") from exc
        else:
            try:
                with tarfile.open(archive, mode="r:*") as handle:
                    _extract_tar(archive, handle, temporary)
            except tarfile.ReadError as exc:
                raise ValueError(f"{archive}: not a zip or tar archive, or a corrupt one ({exc}).") from exc
        if dest.exists():
            dest.rmdir()
        os.replace(temporary, dest)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return dest


def _copy_atomic(source: Path, target: Path) -> None:
    with atomic_write(target) as temporary:
        shutil.copyfile(source, temporary)


def _run_conversion_step(step: dict[str, Any], raw_dir: Path, out_dir: Path) -> int:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.convert-", dir=out_dir.parent))
    try:
        count = run_converter(step["converter"], raw_dir, temporary, step["parameters"])
        os.replace(temporary, out_dir)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return count


def _resolve_manifest(
    name_or_manifest: str | os.PathLike | dict[str, Any], manifest_dir: str | os.PathLike | None
) -> dict:
    if isinstance(name_or_manifest, dict):
        return validate_manifest(
            name_or_manifest, source=f"<manifest {name_or_manifest.get('name', '?')!r}>", schema_dir=manifest_dir
        )
    return load_manifest(name_or_manifest, directory=manifest_dir)


def fetch_dataset(
    name_or_manifest: str | os.PathLike | dict[str, Any],
    dest: str | os.PathLike,
    *,
    convert: bool = True,
    manifest_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Download, verify, extract and convert a public dataset described by a manifest.

    Steps already done by an earlier run (a verified download, an extracted folder, a converted subset)
    are skipped, so the call can be repeated after an interruption. See the module docstring for the
    folder layout under ``dest``. A file whose ``raw/`` entry exists is not downloaded at all, so data
    obtained elsewhere can be placed under ``raw/`` (or, as published, under ``downloads/``) and converted
    without network access.

    Args:
        name_or_manifest: a manifest name, a path to a manifest JSON file, or an already loaded manifest dict.
        dest: the dataset folder.
        convert: run the manifest's conversion steps; False stops after extraction.
        manifest_dir: folder of named manifests (and of the schema); None uses the default
            (see :func:`cellbundles.data.manifest.default_manifest_dir`).
        progress: report download progress on stderr.

    Returns:
        ``{subset: folder}`` for every converted subset (empty when ``convert`` is False).

    Raises:
        ValueError: invalid manifest, checksum mismatch, unsafe archive, or a conversion that finds no data.
        OSError: a failed download (rerun to resume).
    """
    manifest = _resolve_manifest(name_or_manifest, manifest_dir)
    dest = Path(dest)
    downloads, raw_dir = dest / DOWNLOADS_DIR, dest / RAW_DIR
    raw_dir.mkdir(parents=True, exist_ok=True)
    for entry in manifest["files"]:
        target = raw_dir / raw_entry_name(entry)
        if target.exists():  # extracted by an earlier run, or placed there by hand (no download needed)
            continue
        local = download(
            entry["url"],
            downloads / entry["filename"],
            sha256=entry["sha256"],
            size_bytes=entry["size_bytes"],
            progress=progress,
        )
        if is_archive_entry(entry):
            sys.stderr.write(f"extracting {local.name} -> {target}\n")
            safe_extract(local, target)
        else:
            _copy_atomic(local, target)
    subsets: dict[str, Path] = {}
    if convert:
        for step in manifest["conversion"]:
            out_dir = dest / step["subset"]
            if not out_dir.exists():
                count = _run_conversion_step(step, raw_dir, out_dir)
                sys.stderr.write(f"{manifest['name']}: converted {count} samples into {out_dir}\n")
            subsets[step["subset"]] = out_dir
    return subsets
