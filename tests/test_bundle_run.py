"""cellbundles.bundle_run: the ``python -m monai.bundle run`` command line and its child process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cellbundles.bundle_run import bundle_run_command, run_bundle, run_bundle_measured


def test_command_merges_configs_and_encodes_overrides(tmp_path):
    command = bundle_run_command(tmp_path, ["train.json", "evaluate.json"], {"dataset_dir": "/d", "max_epochs": 3,
                                                                             "patch_size": [64, 64]})  # fmt: skip
    assert command[:4] == [sys.executable, "-m", "monai.bundle", "run"]
    files = json.loads(command[command.index("--config_file") + 1])
    assert files == [str(tmp_path / "configs" / "train.json"), str(tmp_path / "configs" / "evaluate.json")]
    assert command[command.index("--bundle_root") + 1] == str(tmp_path)
    assert command[command.index("--logging_file") + 1] == str(tmp_path / "configs" / "logging.conf")
    assert command[command.index("--dataset_dir") + 1] == "/d"
    assert command[command.index("--max_epochs") + 1] == "3"
    assert command[command.index("--patch_size") + 1] == "[64, 64]"


def test_one_config_is_passed_as_a_plain_path(tmp_path):
    command = bundle_run_command(tmp_path, ["inference.json"])
    assert command[command.index("--config_file") + 1] == str(tmp_path / "configs" / "inference.json")


def _bundle(root: Path, run: str) -> Path:
    (root / "configs").mkdir(parents=True)
    (root / "configs" / "logging.conf").write_text(
        "[loggers]\nkeys=root\n[handlers]\nkeys=console\n[formatters]\nkeys=plain\n"
        "[logger_root]\nlevel=INFO\nhandlers=console\n[handler_console]\nclass=StreamHandler\n"
        "level=INFO\nformatter=plain\nargs=(sys.stdout,)\n[formatter_plain]\nformat=%(message)s\n"
    )
    (root / "configs" / "run.json").write_text(json.dumps({"message": "none", "run": [run]}))
    return root


def test_run_bundle_writes_the_log_and_returns_seconds(tmp_path):
    bundle = _bundle(tmp_path / "b", "$print('ran with', @message)")
    seconds = run_bundle(bundle, ["run.json"], {"message": "hello"}, log_file=tmp_path / "logs" / "run.log")
    assert seconds > 0
    assert "ran with hello" in (tmp_path / "logs" / "run.log").read_text()


def test_booleans_and_lists_arrive_with_their_python_types(tmp_path):
    bundle = _bundle(tmp_path / "b", "$print('types', [type(v).__name__ for v in (@flag, @off, @sizes)], @off, @sizes)")
    overrides = {"flag": True, "off": False, "sizes": [0.5, 2]}
    run_bundle(bundle, ["run.json"], overrides, log_file=tmp_path / "run.log")
    assert "types ['bool', 'bool', 'list'] False [0.5, 2]" in (tmp_path / "run.log").read_text()


def test_run_bundle_raises_when_the_run_fails(tmp_path):
    bundle = _bundle(tmp_path / "b", "$1 / 0")
    with pytest.raises(subprocess.CalledProcessError):
        run_bundle(bundle, ["run.json"], log_file=tmp_path / "run.log")
    assert "ZeroDivisionError" in (tmp_path / "run.log").read_text()


def test_peak_memory_is_that_of_the_run_itself(tmp_path):
    """A run that holds 1200 MiB peaks far above one that holds nothing, also when it ran first (the second run's
    high-water mark is set while it imports MONAI, a few hundred MiB above what it then holds)."""
    bundle = _bundle(tmp_path / "b", "")
    config = {"data": "$b'x' * (@mib * 2**20)", "run": ["$len(@data)", "$__import__('time').sleep(1)"]}  # held 1 s
    (bundle / "configs" / "run.json").write_text(json.dumps(config))
    _, large = run_bundle_measured(bundle, ["run.json"], {"mib": 1200}, log_file=tmp_path / "large.log")
    seconds, small = run_bundle_measured(bundle, ["run.json"], {"mib": 0}, log_file=tmp_path / "small.log")
    assert seconds > 0
    assert large > 1200 and large - small > 900, (large, small)
