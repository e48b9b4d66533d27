from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark.py"


def test_metrics_benchmark_quick_run_writes_reports(tmp_path):
    command = [sys.executable, str(SCRIPT), "metrics", "--quick", "--repeats", "1", "--output-dir", str(tmp_path)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["section"] == "metrics" and report["quick"] is True
    assert {"cpu", "cores", "numpy", "scipy", "date"} <= set(report["machine"])
    for case in report["cases"]:
        result = case["match_instances"]["result"]
        assert result["tp"] > 0 and result["fp"] > 0 and result["fn"] > 0  # the scene is not trivial
        assert case["unique_keys_reference"]["same_result"] is True
    assert report["cases"][0]["naive_reference_on_crop"]["same_result"] is True
    markdown = (tmp_path / "metrics.md").read_text()
    assert "match_instances" in markdown and report["machine"]["cpu"] in markdown
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_benchmark_requires_a_section():
    completed = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True)
    assert completed.returncode != 0 and "metrics" in completed.stderr
