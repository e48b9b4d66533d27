"""Pieces of ``scripts/benchmark.py memory``: the RSS slope, one short real trace, and the report."""

from __future__ import annotations

import json

import pytest


def test_slope_leaves_out_the_warm_up(benchmark):
    warm_up = [100.0 + 10 * index for index in range(10)]  # steep, then 0.5 MiB per inference
    steady = [200.0 + 0.5 * index for index in range(20)]
    assert benchmark.rss_slope_kib(warm_up + steady, warmup=10) == pytest.approx(512.0)
    assert benchmark.rss_slope_kib([300.0, 300.5, 301.0], warmup=10) == pytest.approx(512.0)  # too few: all
    assert benchmark.rss_slope_kib([300.0], warmup=10) == 0.0


def test_rss_is_read(benchmark):
    assert 1.0 < benchmark.rss_mb() < 1e6


@pytest.mark.slow
def test_a_short_trace_and_its_report(benchmark, tmp_path):
    row = benchmark.bundle_rss_trace("nuclei_resunet_2d", inferences=3, images=2, work=tmp_path)
    assert row["inferences"] == len(row["rss_mb"]) == 3 and row["seconds_per_inference"] > 0
    # RSS may shrink while inferring (the allocator hands pages back), so only the bookkeeping is asserted
    assert row["rss_after_mb"] == row["rss_mb"][-1] and row["rss_after_warmup_mb"] in row["rss_mb"]
    assert row["rss_before_mb"] > 0 and min(row["rss_mb"]) > 0
    results = {"quick": True, "bundles": {"nuclei_resunet_2d": row}}
    json_path, md_path = benchmark.write_report("memory", results, benchmark._memory_markdown(results["bundles"]),
                                                tmp_path / "report")  # fmt: skip
    assert json.loads(json_path.read_text())["bundles"]["nuclei_resunet_2d"]["inferences"] == 3
    growth = round(row["rss_after_mb"] - row["rss_after_warmup_mb"], 1)
    assert f"| nuclei_resunet_2d | 128 x 128 | 3 | {row['rss_before_mb']} |" in md_path.read_text()
    assert f"| {row['rss_after_mb']} | {growth} | {row['slope_kib_per_inference']} |" in md_path.read_text()


def _measure_nothing_in_robustness(benchmark, monkeypatch) -> None:
    def fake_section(args):
        """A section that measures nothing."""
        return {"quick": args.quick, "volumes": args.volumes}, "body\n"

    add_arguments, _ = benchmark.SECTIONS["robustness"]
    monkeypatch.setitem(benchmark.SECTIONS, "robustness", (add_arguments, fake_section))


def test_the_report_names_the_command_with_its_options(benchmark, tmp_path, monkeypatch):
    _measure_nothing_in_robustness(benchmark, monkeypatch)
    assert benchmark.main(["robustness", "--volumes", "2", "--output-dir", str(tmp_path / "my dir")]) == 0
    command = f"python scripts/benchmark.py robustness --volumes 2 --output-dir '{tmp_path / 'my dir'}'"
    assert f"Produced by `{command}`;" in (tmp_path / "my dir" / "robustness.md").read_text()
    assert json.loads((tmp_path / "my dir" / "robustness.json").read_text())["command"] == command


def test_report_name_chooses_the_report_files(benchmark, tmp_path, monkeypatch):
    _measure_nothing_in_robustness(benchmark, monkeypatch)
    assert benchmark.main(["robustness", "--output-dir", str(tmp_path), "--report-name", "robustness_other"]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["robustness_other.json", "robustness_other.md"]
    assert (tmp_path / "robustness_other.md").read_text().startswith("# Benchmark: robustness_other\n")
