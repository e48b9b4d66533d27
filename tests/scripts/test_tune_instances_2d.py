"""scripts/tune_instances_2d.py: every post-processing setting scored on the validation images, best first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "tune_instances_2d.py"
BUNDLE_DATALIST = REPO / "bundles" / "nuclei_resunet_2d" / "configs" / "datalist.json"
DATASET = REPO / "data" / "samples" / "dsb2018_stage1_train"


def test_scores_the_whole_grid_with_the_shipped_weights(tmp_path):
    datalist = json.loads(BUNDLE_DATALIST.read_text())
    datalist["validation"] = datalist["validation"][:2]
    del datalist["test"]  # the script must not need (or read) the test section
    (tmp_path / "datalist.json").write_text(json.dumps(datalist))
    output = tmp_path / "tuning.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--dataset_dir", str(DATASET), "--datalist", str(tmp_path / "datalist.json"),
         "--output", str(output)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(output.read_text())["rows"]
    assert len(rows) == 3 * 5 + 3 * 6
    accuracies = [row["accuracy"] for row in rows]
    assert accuracies == sorted(accuracies, reverse=True)
    default = next(r for r in rows if r["method"] == "split" and r["threshold"] == 0.5 and r["split_h"] == 1.0)
    # two small validation images: the shipped weights score about 0.5 there, an untrained network about 0
    assert 0.3 < default["accuracy"] <= default["f1"] <= 1.0
    assert all(row["grow"] == 1 and row["grow_threshold"] == 0.1 for row in rows)  # the bundle's settings
    assert rows[0]["accuracy"] >= default["accuracy"]
    assert "best:" in result.stdout
