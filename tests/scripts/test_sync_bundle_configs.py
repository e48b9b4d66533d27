"""The config files shared by several bundles are copies of ``bundle_templates/configs`` (issue 13, item 6)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "sync_bundle_configs.py"


@pytest.fixture()
def sync():
    spec = importlib.util.spec_from_file_location("sync_bundle_configs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_bundle_copy_matches_its_template(sync):
    assert sync.main(["--check"]) == 0
    # logging.conf x6, evaluate.json x2, multi_gpu_train.json x3, datalist.json x3
    assert len(sync.copies()) == 14


def test_check_names_a_copy_that_drifted_and_sync_rewrites_it(sync, tmp_path, monkeypatch, capsys):
    templates = tmp_path / "bundle_templates" / "configs"
    templates.mkdir(parents=True)
    (templates / "logging.conf").write_text("[loggers]\n")
    bundle_configs = tmp_path / "bundles" / "b" / "configs"
    bundle_configs.mkdir(parents=True)
    (bundle_configs / "logging.conf").write_text("[loggers]\nkeys=root\n")
    monkeypatch.setattr(sync, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(sync, "TEMPLATES", templates)
    monkeypatch.setattr(sync, "SHARED", {"logging.conf": ("b",)})
    assert sync.main(["--check"]) == 1
    assert "bundles/b/configs/logging.conf differs from its template" in capsys.readouterr().err
    assert sync.main([]) == 0
    assert (bundle_configs / "logging.conf").read_text() == "[loggers]\n"
    assert sync.main(["--check"]) == 0
