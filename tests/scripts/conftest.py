"""Fixtures of the tests of ``scripts/``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture(scope="module")
def benchmark():
    """``scripts/benchmark.py`` as a module."""
    spec = importlib.util.spec_from_file_location("benchmark_script", SCRIPTS / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
