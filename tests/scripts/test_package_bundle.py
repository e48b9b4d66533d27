"""``scripts/package_bundle.py``: model-zoo zips that ``monai.bundle download`` fetches back and runs (issue 14, item 6)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "package_bundle.py"
BUNDLE = "nuclei_semantic_2d"  # the smallest and fastest 2D bundle
DSB_IMAGE = REPO / "data" / "samples" / "dsb2018_stage1_train" / "images" / (
    "0280fa8f60f6bcae0f97d93c28f60be194f9309ff610dc5845e60455b0f87c21.png"
)


@pytest.fixture(scope="module")
def package():
    """``scripts/package_bundle.py`` as a module."""
    spec = importlib.util.spec_from_file_location("package_bundle", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_monai_bundle(*args: str, cwd: Path, **options) -> tuple[int, str]:
    """``python -m monai.bundle <args>`` in a child process, as ``tests/bundles/bundle_cli.py`` runs bundles."""
    spec = importlib.util.spec_from_file_location("package_bundle_cli", REPO / "tests" / "bundles" / "bundle_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run_monai_bundle(*args, cwd=cwd, **options)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fake_bundle(root: Path, **defaults) -> Path:
    """A minimal bundle folder whose inference.json has the given top-level defaults."""
    bundle = root / "fake_bundle"
    for folder in ("configs", "docs", "scripts", "models"):
        (bundle / folder).mkdir(parents=True)
    (bundle / "LICENSE").write_text("MIT\n")
    (bundle / "docs" / "README.md").write_text("# fake\n")
    (bundle / "scripts" / "__init__.py").write_text("")
    (bundle / "models" / "model.pt").write_bytes(b"weights")
    (bundle / "configs" / "metadata.json").write_text(json.dumps({"version": "0.0.1"}))
    config = {"bundle_root": ".", "ckpt_dir": "$@bundle_root + '/models'", **defaults}
    (bundle / "configs" / "inference.json").write_text(json.dumps(config, indent=4))
    return bundle


@pytest.mark.slow
def test_packaged_bundle_downloads_back_and_infers_like_the_original(package, tmp_path, capsys):
    from cellbundles.io import read_image

    zoo = tmp_path / "zoo"
    assert package.main([BUNDLE, "--output_dir", str(zoo)]) == 0
    progress = capsys.readouterr().out
    version = json.loads((REPO / "bundles" / BUNDLE / "configs" / "metadata.json").read_text())["version"]
    zip_path = zoo / f"{BUNDLE}_v{version}.zip"
    assert f"{BUNDLE} v{version}: wrote {zip_path}" in progress and "packaged 1 of 1 bundles" in progress
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
    expected = {"LICENSE", "large_files.yml", "models/model.pt", "configs/metadata.json", "configs/inference.json",
                "configs/train.json", "docs/README.md", "scripts/__init__.py"}  # fmt: skip
    assert {f"{BUNDLE}/{name}" for name in expected} <= names
    assert all(name.startswith(f"{BUNDLE}/") and "__pycache__" not in name for name in names)
    assert not any(name.startswith(f"{BUNDLE}/{folder}/") for folder in ("eval", "images") for name in names)

    # download it back as a user does, from a local file URL (MONAI 1.6.1: --url skips the source, extracts the zip)
    downloads = tmp_path / "downloads"
    run_monai_bundle("download", "--name", BUNDLE, "--url", zip_path.as_uri(), "--bundle_dir", str(downloads),
                     "--progress", "False", cwd=tmp_path)  # fmt: skip
    bundle = downloads / BUNDLE
    large_files = yaml.safe_load((bundle / "large_files.yml").read_text())["large_files"]
    assert large_files == [
        {
            "path": "models/model.pt",
            "url": (zoo / f"{BUNDLE}_v{version}_model.pt").as_uri(),
            "hash_val": _sha256(REPO / "bundles" / BUNDLE / "models" / "model.pt"),
            "hash_type": "sha256",
        }
    ]
    assert _sha256(bundle / "models" / "model.pt") == large_files[0]["hash_val"]
    # MONAI's own large-file download fetches the weights from the url and checks the sha256
    (bundle / "models" / "model.pt").unlink()
    run_monai_bundle("download_large_files", "--bundle_path", str(bundle), cwd=tmp_path)
    assert _sha256(bundle / "models" / "model.pt") == large_files[0]["hash_val"]

    # the downloaded bundle's inference.json on one DSB image gives the instances of the original bundle
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shutil.copy(DSB_IMAGE, inputs / DSB_IMAGE.name)
    instances = {}
    for name, root in (("downloaded", bundle), ("original", REPO / "bundles" / BUNDLE)):
        out = tmp_path / f"out_{name}"
        args = ["run", "--config_file", "configs/inference.json", "--bundle_root", str(root)]
        run_monai_bundle(*args, "--dataset_dir", str(inputs), "--output_dir", str(out), cwd=root)
        stem = DSB_IMAGE.stem
        assert (out / f"{stem}_overlay.png").is_file() and (out / "summary.json").is_file()
        instances[name], _ = read_image(out / f"{stem}_instances.tif")
    assert instances["original"].shape == (256, 256) and instances["original"].max() > 5
    np.testing.assert_array_equal(instances["downloaded"], instances["original"])


@pytest.mark.parametrize(
    ("defaults", "key", "reason"),
    [
        ({"dataset_dir": "$@bundle_root + '/../../data/samples'"}, "dataset_dir", "it climbs out with '..'"),
        ({"output_dir": "/workspace/eval"}, "output_dir", "it is an absolute path"),
        ({"output_dir": "$'/workspace' + '/eval'"}, "output_dir", "it is an absolute path"),
        ({"dataset_dir": "$@bundle_root.rsplit('/', 1)[0] + '/images'"}, "dataset_dir", "it resolves to "),
        ({"writer": {"output_dir": "../eval"}}, "writer#output_dir", "it climbs out with '..'"),
    ],
)
def test_a_default_outside_the_bundle_is_refused_with_the_config_and_key(package, tmp_path, capsys, defaults, key, reason):
    bundle = _fake_bundle(tmp_path, **defaults)
    zoo = tmp_path / "zoo"
    assert package.main([bundle.name, "--bundles_dir", str(tmp_path), "--output_dir", str(zoo)]) == 1
    err = capsys.readouterr().err
    assert f"error: fake_bundle: configs/inference.json: '{key}' = " in err
    assert f"points outside the bundle: {reason}" in err
    assert not list(zoo.glob("*.zip"))


def test_defaults_inside_the_bundle_pass(package, tmp_path, capsys):
    bundle = _fake_bundle(tmp_path, dataset_dir="$@bundle_root + '/images'", output_dir="eval",
                          model_url="https://example.org/model.pt")  # fmt: skip
    assert package.check_configs(bundle) == []
    zoo = tmp_path / "zoo"
    assert package.main([bundle.name, "--bundles_dir", str(tmp_path), "--output_dir", str(zoo),
                         "--weights_base_url", "https://example.org/releases/"]) == 0  # fmt: skip
    with zipfile.ZipFile(zoo / "fake_bundle_v0.0.1.zip") as archive:
        large_files = yaml.safe_load(archive.read("fake_bundle/large_files.yml"))
    assert large_files["large_files"][0]["url"] == "https://example.org/releases/fake_bundle_v0.0.1_model.pt"
    assert large_files["large_files"][0]["hash_val"] == hashlib.sha256(b"weights").hexdigest()


def test_every_shipped_bundle_keeps_its_defaults_inside(package):
    """docs/design.md, Conventions: defaults such as dataset_dir point inside the bundle folder (the zoo needs it)."""
    problems = [f"{bundle.name}: {problem}" for bundle in sorted((REPO / "bundles").iterdir())
                if (bundle / "configs" / "metadata.json").is_file() for problem in package.check_configs(bundle)]  # fmt: skip
    assert not problems, "\n".join(problems)


def test_unknown_bundle_name(package, tmp_path, capsys):
    assert package.main(["no_such_bundle", "--output_dir", str(tmp_path)]) == 2
    assert "error: no bundle no_such_bundle in" in capsys.readouterr().err
