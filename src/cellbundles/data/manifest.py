"""Public-dataset manifests: one JSON per dataset in ``data_manifests/`` (docs/design.md, "Data layout").

A manifest says where a dataset is published (URLs, sizes, sha256), under which licence and citation,
its pixel spacing, the layout inside its archives, and which converter of
:mod:`cellbundles.data.convert` maps it onto the canonical layout. Every manifest is validated against
``data_manifests/manifest.schema.json`` (JSON Schema draft 7) when it is loaded.

The manifest folder is, in order of precedence: the ``directory`` argument, the environment variable
``CELLBUNDLES_MANIFESTS``, or the repository's ``data_manifests/`` next to ``src/``
(``src/cellbundles/../../data_manifests``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cellbundles.data.convert import check_converter_parameters
from cellbundles.data.layout import DOWNLOADS_DIR, RAW_DIR

__all__ = [
    "MANIFESTS_ENV",
    "SCHEMA_FILENAME",
    "default_manifest_dir",
    "is_archive_entry",
    "list_manifests",
    "load_manifest",
    "raw_entry_name",
    "validate_manifest",
]

MANIFESTS_ENV = "CELLBUNDLES_MANIFESTS"
SCHEMA_FILENAME = "manifest.schema.json"
_ARCHIVE_FORMATS = ("zip", "tar", "tar.gz", "tar.bz2", "tar.xz")


def default_manifest_dir() -> Path:
    """Return the manifest folder used when no ``directory`` is given.

    Returns:
        ``$CELLBUNDLES_MANIFESTS`` when set, else the repository's ``data_manifests/`` found relative to
        the package source (``src/cellbundles/../../data_manifests``).
    """
    from_env = os.environ.get(MANIFESTS_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path(__file__).resolve().parents[3] / "data_manifests"


def _manifest_dir(directory: str | os.PathLike | None) -> Path:
    folder = Path(directory).expanduser() if directory is not None else default_manifest_dir()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: manifest folder not found (pass directory=... or set {MANIFESTS_ENV}).")
    return folder


def list_manifests(directory: str | os.PathLike | None = None) -> list[str]:
    """Names of the manifests in a folder (file names without ``.json``, the schema excluded), sorted.

    Args:
        directory: the manifest folder; None uses :func:`default_manifest_dir`.

    Raises:
        FileNotFoundError: when the folder does not exist.
    """
    folder = _manifest_dir(directory)
    return sorted(path.stem for path in folder.glob("*.json") if path.name != SCHEMA_FILENAME)


def _load_schema(directory: Path | None) -> dict[str, Any]:
    candidates = [directory / SCHEMA_FILENAME] if directory is not None else []
    candidates.append(default_manifest_dir() / SCHEMA_FILENAME)
    for path in candidates:
        if path.is_file():
            return _read_json(path)
    raise FileNotFoundError(f"manifest schema {SCHEMA_FILENAME} not found in {', '.join(map(str, candidates))}.")


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the file ({exc}).") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.") from exc


def validate_manifest(
    manifest: dict[str, Any], source: str | os.PathLike = "<manifest>", schema_dir: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Check a manifest against the JSON schema and the rules the schema cannot express.

    Beyond the schema: file names, extraction folders and subset names are unique, subsets are not named
    like the ``downloads`` / ``raw`` folders of :func:`cellbundles.data.fetch.fetch_dataset`, ``extract_to``
    is only given for archives, and every conversion step names a known converter with parameters that
    converter accepts.

    Args:
        manifest: the parsed manifest.
        source: what to name in error messages (usually the manifest's path).
        schema_dir: folder holding ``manifest.schema.json``; None uses :func:`default_manifest_dir`.

    Returns:
        ``manifest`` itself, for chaining.

    Raises:
        ValueError: ``"<source>: invalid manifest: ..."`` listing every violation.
    """
    import jsonschema

    schema = _load_schema(Path(schema_dir) if schema_dir is not None else None)
    validator = jsonschema.Draft7Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(manifest), key=lambda e: [str(p) for p in e.absolute_path]):
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        problems.append(f"{where}: {error.message}")
    if not problems:
        problems = _semantic_problems(manifest)
    if problems:
        raise ValueError(f"{source}: invalid manifest:\n  " + "\n  ".join(problems))
    return manifest


def _semantic_problems(manifest: dict[str, Any]) -> list[str]:
    problems = []
    for index, entry in enumerate(manifest["files"]):
        if "extract_to" in entry and not is_archive_entry(entry):
            problems.append(f"files/{index}: extract_to is only allowed for archives, not format {entry['format']!r}")
    raw_names = [raw_entry_name(entry) for entry in manifest["files"]]
    reserved = sorted({step["subset"] for step in manifest["conversion"]} & {DOWNLOADS_DIR, RAW_DIR})
    if reserved:
        problems.append(f"subset names {DOWNLOADS_DIR!r} and {RAW_DIR!r} are reserved, got {', '.join(reserved)}")
    for label, values in (
        ("file name", [entry["filename"] for entry in manifest["files"]]),
        ("folder or file under raw/", raw_names),
        ("subset", [step["subset"] for step in manifest["conversion"]]),
    ):
        duplicates = sorted({value for value in values if values.count(value) > 1})
        if duplicates:
            problems.append(f"duplicate {label}: {', '.join(duplicates)}")
    for index, step in enumerate(manifest["conversion"]):
        try:
            check_converter_parameters(step["converter"], step["parameters"])
        except ValueError as exc:
            problems.append(f"conversion/{index}: {exc}")
    return problems


def _strip_archive_suffix(filename: str) -> str:
    """``a.tar.gz`` -> ``a``, ``b.zip`` -> ``b``, ``c.tgz`` -> ``c``; other names are returned unchanged."""
    lowered = filename.lower()
    for suffix in (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".txz", ".tar", ".zip"):
        if lowered.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)]
    return filename


def raw_entry_name(entry: dict[str, Any]) -> str:
    """Name under ``raw/`` of one manifest file entry: its extraction folder for archives, else its file name."""
    if entry["format"] in _ARCHIVE_FORMATS:
        return entry.get("extract_to", _strip_archive_suffix(entry["filename"]))
    return entry["filename"]


def is_archive_entry(entry: dict[str, Any]) -> bool:
    """Whether a manifest file entry is an archive to extract."""
    return entry["format"] in _ARCHIVE_FORMATS


def load_manifest(name_or_path: str | os.PathLike, directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """Load and validate one manifest.

    Args:
        name_or_path: a manifest name (``"bbbc038"``, looked up as ``<directory>/bbbc038.json``) or a
            path to a JSON file (anything ending in ``.json`` or containing a path separator).
        directory: the manifest folder for names; None uses :func:`default_manifest_dir`. For paths, the
            schema is looked up next to the file first.

    Returns:
        the manifest as a dict.

    Raises:
        ValueError: unknown name (the message lists the known ones), invalid JSON, or a schema violation;
            each message names the file.
    """
    text = os.fspath(name_or_path)
    if text.endswith(".json") or os.sep in text or "/" in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ValueError(f"{path}: manifest file not found.")
        expected_name = None
    else:
        folder = _manifest_dir(directory)
        path = folder / f"{text}.json"
        if not path.is_file() or text == Path(SCHEMA_FILENAME).stem:
            known = ", ".join(list_manifests(folder)) or "(none)"
            raise ValueError(f"unknown dataset manifest {text!r} in {folder}; known manifests: {known}.")
        expected_name = text
    manifest = _read_json(path)
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: invalid manifest: expected a JSON object, got {type(manifest).__name__}.")
    validate_manifest(manifest, source=path, schema_dir=path.parent)
    if expected_name is not None and manifest["name"] != expected_name:
        raise ValueError(
            f"{path}: invalid manifest: name {manifest['name']!r} differs from the file name {expected_name!r}."
        )
    return manifest
