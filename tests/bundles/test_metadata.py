"""``configs/metadata.json`` of every bundle against MONAI's bundle schema: ``python -m monai.bundle verify_metadata``
as users and the model zoo run it, and the schema itself (fields MONAI relies on are required)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundle_cli import run_monai_bundle

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "schemas" / "meta_schema_20240725.json"
BUNDLES = sorted(path.parents[1].name for path in (REPO / "bundles").glob("*/configs/metadata.json"))
REQUIRED = ("version", "network_data_format", "monai_version", "required_packages_version")


def _metadata(bundle: str) -> dict:
    return json.loads((REPO / "bundles" / bundle / "configs" / "metadata.json").read_text())


def test_every_bundle_folder_has_metadata():
    folders = sorted(path.name for path in (REPO / "bundles").iterdir() if (path / "configs").is_dir())
    assert BUNDLES == folders
    assert {"cells_fpf_2d", "nuclei_maskrcnn_2d", "nuclei_recyclegan_3d", "nuclei_segdet_3d"} <= set(BUNDLES)


@pytest.mark.slow
@pytest.mark.parametrize("bundle", BUNDLES)
def test_verify_metadata_passes(bundle):
    meta_file = REPO / "bundles" / bundle / "configs" / "metadata.json"
    _, log = run_monai_bundle("verify_metadata", "--meta_file", str(meta_file), "--filepath", str(SCHEMA), cwd=REPO)
    assert "metadata is verified with no error" in log


@pytest.mark.slow
def test_verify_metadata_rejects_metadata_without_a_required_field(tmp_path):
    metadata = _metadata("nuclei_segdet_3d")
    del metadata["network_data_format"]
    meta_file = tmp_path / "metadata.json"
    meta_file.write_text(json.dumps(metadata))
    code, log = run_monai_bundle(
        "verify_metadata", "--meta_file", str(meta_file), "--filepath", str(SCHEMA), cwd=REPO, check=False
    )
    assert code != 0
    assert "'network_data_format' is a required property" in log


@pytest.mark.parametrize("bundle", BUNDLES)
@pytest.mark.parametrize("required", REQUIRED)
def test_schema_requires_the_fields_monai_relies_on(bundle, required):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    metadata = _metadata(bundle)
    jsonschema.validate(metadata, schema)
    del metadata[required]
    with pytest.raises(jsonschema.ValidationError, match=f"'{required}' is a required property"):
        jsonschema.validate(metadata, schema)
