"""``as_flag``: the on/off options of the bundles read the way a command line hands them over, and every bundle
config reads its on/off options through it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cellbundles.utils import as_flag

BUNDLES = Path(__file__).resolve().parents[2] / "bundles"
INTERNAL = {"is_main_process"}  # set by the multi-GPU config, never on the command line


@pytest.mark.parametrize(
    "value, expected",
    [(True, True), (False, False), (1, True), (0, False), ("true", True), ("False", False), (" no ", False),
     ("YES", True), ("on", True), ("off", False), ("1", True), ("0", False)],
)  # fmt: skip
def test_command_line_spellings(value, expected):
    assert as_flag(value, "fill_holes") is expected


@pytest.mark.parametrize("value", ["maybe", "", 2, None, 0.5])
def test_anything_else_is_a_clear_error(value):
    with pytest.raises(ValueError, match=r"--fill_holes must be true or false"):
        as_flag(value, "fill_holes")


def test_every_bundle_reads_its_flags_through_as_flag():
    """``--x false`` reaches a config as the string "false", which Python counts as true: a flag used as
    ``@x`` would do the opposite of what the user asked."""
    unguarded = []
    for config in sorted(BUNDLES.glob("*/configs/*.json")):
        text = config.read_text()
        flags = {key for key, value in json.loads(text).items() if isinstance(value, bool)} - INTERNAL
        for flag in flags:
            uses = re.findall(rf"[^\s\"]*@{flag}\b[^\"]*", text)
            unguarded += [f"{config.parent.parent.name}/{config.name}: {use}" for use in uses if f"as_flag(@{flag}, '{flag}')" not in use]
    assert not unguarded, unguarded
