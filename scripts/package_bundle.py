#!/usr/bin/env python
"""Package bundles as the MONAI model zoo ships them: ``<name>_v<version>.zip`` with a ``large_files.yml``.

For each bundle of ``bundles/`` (or the ones named) this script

1. checks that the defaults of every config file stay inside the bundle: path ids (``bundle_root``,
   ``datalist`` and every ``*_dir``, ``*_path``, ``*_file``, ``*_root``) are resolved with ``bundle_root``
   set to the bundle folder, and no string anywhere in a config may hold an absolute path or ``..``;
   a default that points outside stops the script with the config file and the key;
2. writes ``<output_dir>/<name>_v<version>.zip`` holding the folder ``<name>/`` as the zoo has it:
   ``configs/``, ``docs/``, ``scripts/``, ``LICENSE``, ``models/model.pt`` and ``large_files.yml``
   (the zoo's format: ``large_files:`` entries with ``path``, ``url``, ``hash_val``, ``hash_type``, here
   the sha256 of ``models/model.pt``);
3. copies the weights next to the zip as ``<name>_v<version>_model.pt``, the file the ``url`` of
   ``large_files.yml`` names: ``--weights_base_url`` gives where they will be published (for example a
   release page); without it the url is the local ``file://`` path of that copy.

The zip is what ``monai.bundle download --url`` fetches and extracts::

    python scripts/package_bundle.py                          # every bundle into dist/model_zoo
    python scripts/package_bundle.py nuclei_semantic_2d --output_dir /tmp/zoo
    python -m monai.bundle download --name nuclei_semantic_2d \\
        --url file:///tmp/zoo/nuclei_semantic_2d_v0.2.1.zip --bundle_dir /tmp/bundles
    python -m monai.bundle download_large_files --bundle_path /tmp/bundles/nuclei_semantic_2d  # checks the sha256
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path

__all__ = ["ConfigEscapeError", "check_configs", "package_bundle", "main"]

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLES_DIR = REPO_ROOT / "bundles"
OUTPUT_DIR = REPO_ROOT / "dist" / "model_zoo"
FOLDERS = ("configs", "docs", "scripts")
"""Folders of a bundle that go into the zip whole (less caches); ``models/`` contributes ``model.pt`` only."""
WEIGHTS = "models/model.pt"
PATH_ID = re.compile(r"^(bundle_root|datalist|.*_(dir|path|file|root))$")
"""Top-level config ids whose default is a path, resolved with ``bundle_root`` set to the bundle folder."""
ZIP_DATE = (2020, 1, 1, 0, 0, 0)
"""Timestamp of every zip entry, so that packaging the same files twice gives the same zip."""


class ConfigEscapeError(ValueError):
    """A config default that points outside the bundle folder."""


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _strings(value, key: str = ""):
    """(``a#b#0#c`` id, string) for every string inside a parsed config, in MONAI's id syntax."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _strings(item, f"{key}#{name}" if key else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{key}#{index}" if key else str(index))
    elif isinstance(value, str):
        yield key, value


def _textual_problem(text: str) -> str | None:
    """Why a config string points outside the bundle whatever it resolves to, or None."""
    if re.search(r"(^|[/\\'\"])\.\.([/\\'\"]|$)", text):
        return "it climbs out with '..'"
    if not text.startswith(("$", "@", "%")):
        literal = text
    else:  # an expression that starts with a string literal, e.g. "$'/data' + '/images'"
        match = re.match(r"^\$\s*['\"](.*)", text)
        literal = match.group(1) if match else ""
    if literal and (literal.startswith(("/", "~", "\\")) or re.match(r"^[A-Za-z]:[\\/]", literal)):
        if not re.match(r"^[a-z][a-z0-9+.-]*://", literal):
            return "it is an absolute path"
    return None


def _inside(path: str, root: Path) -> bool:
    """Whether ``path`` (relative paths taken from ``root``) lies in ``root``, after collapsing ``..``."""
    full = os.path.normpath(os.path.join(root, os.path.expanduser(path)))
    return os.path.commonpath([full, os.path.normpath(root)]) == os.path.normpath(root)


def check_configs(bundle_dir: Path) -> list[str]:
    """Every default of ``bundle_dir/configs/*.json|yaml`` that points outside the bundle, as messages.

    Each message names the config file (relative to the bundle) and the key in MONAI's ``a#b`` id syntax.
    ``metadata.json`` is skipped (it holds URLs, not paths).
    """
    from monai.bundle import ConfigParser

    bundle_dir = Path(bundle_dir).resolve()
    problems = []
    configs = sorted(p for p in (bundle_dir / "configs").iterdir() if p.suffix in (".json", ".yaml", ".yml"))
    for config_file in configs:
        if config_file.name == "metadata.json":
            continue
        where = config_file.relative_to(bundle_dir).as_posix()
        content = ConfigParser.load_config_file(config_file)
        flagged = set()
        for key, text in _strings(content):
            reason = _textual_problem(text)
            if reason:
                problems.append(f"{where}: {key!r} = {text!r} points outside the bundle: {reason}")
                flagged.add(key)
        if not isinstance(content, dict):
            continue
        parser = ConfigParser({**content, "bundle_root": str(bundle_dir)})
        for key, raw in content.items():
            if not PATH_ID.match(str(key)) or key == "bundle_root" or key in flagged or not isinstance(raw, str):
                continue
            try:
                value = parser.get_parsed_content(key)
            except Exception:  # an id that needs other files or the data itself: the textual check covers it
                continue
            if isinstance(value, (str, os.PathLike)) and str(value) and not _inside(str(value), bundle_dir):
                problems.append(f"{where}: {key!r} = {raw!r} points outside the bundle: "
                                f"it resolves to {value} with bundle_root = {bundle_dir}")  # fmt: skip
    return problems


def large_files_yaml(url: str, hash_val: str) -> str:
    """``large_files.yml`` in the model zoo's format for ``models/model.pt``."""
    return (
        "large_files:\n"
        f'  - path: "{WEIGHTS}"\n'
        f'    url: "{url}"\n'
        f'    hash_val: "{hash_val}"\n'
        '    hash_type: "sha256"\n'
    )


def _members(bundle_dir: Path) -> list[tuple[Path, str]]:
    """(file, name inside the bundle folder) of everything that goes into the zip, ``large_files.yml`` aside."""
    members = [(bundle_dir / "LICENSE", "LICENSE"), (bundle_dir / WEIGHTS, WEIGHTS)]
    for folder in FOLDERS:
        for path in sorted((bundle_dir / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                members.append((path, path.relative_to(bundle_dir).as_posix()))
    return sorted(members, key=lambda member: member[1])


def package_bundle(bundle_dir: Path, output_dir: Path, weights_base_url: str | None = None, log=print) -> Path:
    """Check and zip one bundle folder into ``output_dir``; return the zip's path.

    Raises:
        ConfigEscapeError: a config default points outside the bundle (all of them are listed).
        FileNotFoundError: the bundle lacks ``configs/metadata.json``, ``LICENSE`` or ``models/model.pt``.
    """
    bundle_dir = Path(bundle_dir).resolve()
    name = bundle_dir.name
    for required in ("configs/metadata.json", "LICENSE", WEIGHTS, *FOLDERS):
        if not (bundle_dir / required).exists():
            raise FileNotFoundError(f"{name}: {required} is missing from {bundle_dir}")
    version = json.loads((bundle_dir / "configs" / "metadata.json").read_text())["version"]
    log(f"{name} v{version}: checking that config defaults stay inside the bundle")
    problems = check_configs(bundle_dir)
    if problems:
        raise ConfigEscapeError(f"{name}: " + f"\n{name}: ".join(problems))
    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    weights = bundle_dir / WEIGHTS
    digest = sha256(weights)
    log(f"{name} v{version}: {WEIGHTS} {weights.stat().st_size / 1e6:.1f} MB, sha256 {digest}")
    weights_copy = output_dir / f"{name}_v{version}_model.pt"
    shutil.copyfile(weights, weights_copy)
    url = f"{weights_base_url.rstrip('/')}/{weights_copy.name}" if weights_base_url else weights_copy.as_uri()
    zip_path = output_dir / f"{name}_v{version}.zip"
    partial = zip_path.with_suffix(".zip.partial")
    members = _members(bundle_dir)
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, inner in members:
            info = zipfile.ZipInfo(f"{name}/{inner}", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
        info = zipfile.ZipInfo(f"{name}/large_files.yml", date_time=ZIP_DATE)
        info.external_attr = 0o644 << 16
        archive.writestr(info, large_files_yaml(url, digest))
    os.replace(partial, zip_path)
    log(f"{name} v{version}: wrote {zip_path} ({len(members) + 1} files, {zip_path.stat().st_size / 1e6:.1f} MB); "
        f"large_files.yml url {url}")  # fmt: skip
    return zip_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="bundle folder names under --bundles_dir (default: every bundle)")
    parser.add_argument("--bundles_dir", type=Path, default=BUNDLES_DIR, help="folder holding the bundles")
    parser.add_argument("--output_dir", type=Path, default=OUTPUT_DIR, help="where the zips go (default dist/model_zoo)")
    parser.add_argument("--weights_base_url", default=None,
                        help="URL of the folder where <name>_v<version>_model.pt will be published, for the url of "
                             "large_files.yml (default: the local file:// path of the copy next to the zip)")  # fmt: skip
    args = parser.parse_args(argv)
    available = sorted(p.name for p in args.bundles_dir.iterdir() if (p / "configs" / "metadata.json").is_file())
    names = args.names or available
    unknown = [name for name in names if name not in available]
    if unknown:
        print(f"error: no bundle {', '.join(unknown)} in {args.bundles_dir} (bundles: {', '.join(available)})",
              file=sys.stderr)  # fmt: skip
        return 2
    failed = 0
    for name in names:
        try:
            package_bundle(args.bundles_dir / name, args.output_dir, args.weights_base_url)
        except (ConfigEscapeError, FileNotFoundError) as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            failed += 1
    print(f"packaged {len(names) - failed} of {len(names)} bundles into {args.output_dir}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
