"""Tests of cellbundles.data.manifest and of the shipped data_manifests/*.json."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from cellbundles.data.convert import CONVERTERS
from cellbundles.data.manifest import (
    MANIFESTS_ENV,
    SCHEMA_FILENAME,
    default_manifest_dir,
    list_manifests,
    load_manifest,
    validate_manifest,
)

REPO_MANIFESTS = Path(__file__).resolve().parents[2] / "data_manifests"
EXPECTED = {"bbbc020", "bbbc024", "bbbc038", "gonuclear", "macrophages_fpf", "qcanet"}


def minimal_manifest(name: str = "tiny") -> dict:
    return {
        "name": name,
        "title": "Tiny test dataset",
        "description": "two images",
        "homepage": "https://example.org/tiny",
        "citation": [{"text": "Nobody. Nothing. 2024."}],
        "licence": {"name": "CC0 1.0"},
        "files": [
            {
                "url": "http://127.0.0.1:1/tiny.zip",
                "filename": "tiny.zip",
                "size_bytes": None,
                "sha256": None,
                "sha256_note": "not published; printed on first download",
                "format": "zip",
            }
        ],
        "spacing": {"zyx_um": None, "note": "unknown"},
        "layout": {"tiny/<id>.tif": "images"},
        "conversion": [
            {
                "subset": "all",
                "converter": "paired_files",
                "parameters": {"images": "tiny/img_{id}.tif", "labels": "tiny/lab_{id}.tif"},
            }
        ],
    }


def write_manifest(folder: Path, manifest: dict, name: str | None = None) -> Path:
    path = folder / f"{name or manifest['name']}.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return path


def test_default_dir_is_the_repository_folder(monkeypatch):
    monkeypatch.delenv(MANIFESTS_ENV, raising=False)
    assert default_manifest_dir() == REPO_MANIFESTS


def test_schema_is_a_valid_draft7_schema():
    schema = json.loads((REPO_MANIFESTS / SCHEMA_FILENAME).read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)


def test_every_shipped_manifest_validates(monkeypatch):
    monkeypatch.delenv(MANIFESTS_ENV, raising=False)
    schema = json.loads((REPO_MANIFESTS / SCHEMA_FILENAME).read_text(encoding="utf-8"))
    names = list_manifests()
    assert EXPECTED <= set(names)
    for name in names:
        raw = json.loads((REPO_MANIFESTS / f"{name}.json").read_text(encoding="utf-8"))
        jsonschema.Draft7Validator(schema).validate(raw)  # the schema alone
        manifest = load_manifest(name)  # schema + converter parameters + uniqueness
        assert manifest["name"] == name
        assert all(step["converter"] in CONVERTERS for step in manifest["conversion"])
        for entry in manifest["files"]:
            assert entry["sha256"] is not None or "sha256_note" in entry


def test_list_excludes_schema_and_honours_env(monkeypatch, tmp_path):
    write_manifest(tmp_path, minimal_manifest("tiny"))
    (tmp_path / SCHEMA_FILENAME).write_text((REPO_MANIFESTS / SCHEMA_FILENAME).read_text(encoding="utf-8"))
    monkeypatch.setenv(MANIFESTS_ENV, str(tmp_path))
    assert default_manifest_dir() == tmp_path
    assert list_manifests() == ["tiny"]
    assert load_manifest("tiny")["title"] == "Tiny test dataset"


def test_directory_argument_and_path(tmp_path):
    path = write_manifest(tmp_path, minimal_manifest("tiny"))
    assert list_manifests(tmp_path) == ["tiny"]
    assert load_manifest("tiny", directory=tmp_path)["name"] == "tiny"
    assert load_manifest(path)["name"] == "tiny"


def test_unknown_name_lists_the_known_ones(monkeypatch):
    monkeypatch.delenv(MANIFESTS_ENV, raising=False)
    with pytest.raises(ValueError, match="no_such_dataset") as info:
        load_manifest("no_such_dataset")
    assert "bbbc038" in str(info.value) and "qcanet" in str(info.value)


def test_missing_folder_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest folder"):
        list_manifests(tmp_path / "absent")


def test_invalid_json_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"name": "broken",', encoding="utf-8")
    with pytest.raises(ValueError, match="invalid JSON") as info:
        load_manifest("broken", directory=tmp_path)
    assert str(path) in str(info.value)


def test_schema_violations_name_file_and_field(tmp_path):
    manifest = minimal_manifest("tiny")
    del manifest["files"][0]["sha256_note"]  # a null sha256 needs its note
    manifest["licence"] = {}
    path = write_manifest(tmp_path, manifest)
    with pytest.raises(ValueError) as info:
        load_manifest(path)
    message = str(info.value)
    assert str(path) in message
    assert "sha256_note" in message and "files/0" in message
    assert "licence" in message and "'name' is a required property" in message


@pytest.mark.parametrize(
    "field, value",
    [
        ("filename", "../escape.zip"),
        ("sha256", "ABCDEF"),
        ("url", "not a url"),
        ("format", "rar"),
    ],
)
def test_bad_file_entries_are_refused(field, value):
    manifest = minimal_manifest()
    manifest["files"][0][field] = value
    with pytest.raises(ValueError, match=f"files/0/{field}"):
        validate_manifest(manifest, source="mem.json")


def test_unknown_converter_and_bad_parameters(tmp_path):
    manifest = minimal_manifest()
    manifest["conversion"][0]["converter"] = "no_such_converter"
    with pytest.raises(ValueError, match="unknown converter 'no_such_converter'.*dsb2018"):
        validate_manifest(manifest)
    manifest = minimal_manifest()
    manifest["conversion"][0]["parameters"]["colour"] = "blue"
    with pytest.raises(ValueError, match="conversion/0.*colour"):
        validate_manifest(manifest)
    manifest = minimal_manifest()
    manifest["conversion"][0]["parameters"]["images"] = "../outside/{id}.tif"
    with pytest.raises(ValueError, match="must stay inside the raw folder"):
        validate_manifest(manifest)


def test_duplicates_and_misplaced_extract_to():
    manifest = minimal_manifest()
    manifest["files"].append(copy.deepcopy(manifest["files"][0]))
    manifest["conversion"].append(copy.deepcopy(manifest["conversion"][0]))
    manifest["files"].append({**manifest["files"][0], "filename": "table.csv", "format": "csv", "extract_to": "x"})
    with pytest.raises(ValueError) as info:
        validate_manifest(manifest, source="dup.json")
    message = str(info.value)
    assert "duplicate file name: tiny.zip" in message
    assert "duplicate subset: all" in message
    assert "extract_to is only allowed for archives" in message


def test_reserved_subset_names():
    manifest = minimal_manifest()
    manifest["conversion"][0]["subset"] = "raw"
    with pytest.raises(ValueError, match="reserved, got raw"):
        validate_manifest(manifest)


def test_name_must_match_file_name(tmp_path):
    write_manifest(tmp_path, minimal_manifest("tiny"), name="other")
    with pytest.raises(ValueError, match="differs from the file name 'other'"):
        load_manifest("other", directory=tmp_path)
