"""Pieces of ``scripts/benchmark.py robustness``: per-volume scores against known answers, the mean / worst
aggregate, the held-out real folders read from ``scripts/prepare_segdet_data.py``'s datalist, the diameter
estimator errors and the figure."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cellbundles.io import write_image


def _balls(shape=(16, 48, 48), centres=((8, 12, 12), (8, 12, 36), (8, 36, 24)), radius=4, spacing=(1.0, 1.0, 1.0)):
    grid = np.indices(shape)
    labels = np.zeros(shape, np.int32)
    for index, centre in enumerate(centres, start=1):
        labels[((grid - np.reshape(centre, (3, 1, 1, 1))) ** 2).sum(0) <= radius**2] = index
    return labels


def test_volume_scores_of_perfect_partial_and_empty_predictions(benchmark):
    labels = _balls()
    perfect = benchmark.volume_scores(labels, labels * 7, (1.0, 1.0, 1.0))
    assert perfect == {"instance_f1": 1.0, "centroid_f1": 1.0, "dice": 1.0, "count_error": 0.0, "n_true": 3, "n_pred": 3}
    merged = np.where(labels == 2, 1, labels)  # two nuclei predicted as one
    scores = benchmark.volume_scores(labels, merged, (1.0, 1.0, 1.0))
    # the merged pair has IoU exactly 0.5 with each of its equal nuclei, which matches one (IoU >= 0.5)
    assert scores["instance_f1"] == pytest.approx(2 * 2 / (3 + 2))
    assert scores["dice"] == 1.0 and scores["count_error"] == pytest.approx(1 / 3)
    empty = benchmark.volume_scores(labels, np.zeros_like(labels), (1.0, 1.0, 1.0))
    assert empty["instance_f1"] == 0.0 and empty["count_error"] == 1.0 and empty["n_pred"] == 0


def test_aggregate_reports_the_mean_and_the_worst_volume(benchmark):
    rows = [
        {"volume": "a", "instance_f1": 0.9, "centroid_f1": 1.0, "dice": 0.8, "count_error": 0.0},
        {"volume": "b", "instance_f1": 0.5, "centroid_f1": 0.6, "dice": 0.7, "count_error": 0.2},
    ]
    result = benchmark._aggregate(rows)
    assert result["mean"] == {"instance_f1": 0.7, "centroid_f1": 0.8, "dice": 0.75, "count_error": 0.1}
    assert result["worst"]["volume"] == "b" and result["worst"]["instance_f1"] == 0.5


def test_real_test_volumes_grouped_by_source(benchmark, tmp_path):
    data = tmp_path / "segdet_data"
    test = []
    for source, stem in (("bbbc050", "Emb10_t001"), ("bbbc050", "Emb11_t001"), ("qcanet", "8_cell_stage")):
        for sub in ("images", "labels"):
            write_image(data / "real" / source / sub / f"{stem}.tif", _balls().astype(np.uint16), (2.0, 1.0, 1.0))
        test.append({"image": f"real/{source}/images/{stem}.tif", "label": f"real/{source}/labels/{stem}.tif"})
    training = [{"image": "real/bbbc050/images/Emb01_t001.tif", "label": "real/bbbc050/labels/Emb01_t001.tif"}]
    (data / "datalist.json").write_text(json.dumps({"training": training, "validation": [], "test": test}))

    class Args:
        segdet_data = data

    datasets = benchmark._real_datasets(Args, tmp_path / "work")
    assert set(datasets) == {benchmark.REAL_TEST_SETS["bbbc050"], benchmark.REAL_TEST_SETS["qcanet"]}
    bbbc050, provenance = datasets[benchmark.REAL_TEST_SETS["bbbc050"]]
    assert provenance == "held out of training"
    assert sorted(p.name for p in (bbbc050 / "images").iterdir()) == ["Emb10_t001.tif", "Emb11_t001.tif"]
    errors = benchmark._diameter_errors(bbbc050)
    assert set(errors) == {"scale_space", "mask"} and all(0.0 <= value < 0.5 for value in errors.values())


def test_robustness_figure(benchmark, tmp_path):
    rows = {name: {method: {"mean": {"instance_f1": 0.8}, "worst": {"instance_f1": 0.4}} for method in benchmark.ROBUSTNESS_METHODS}
            for name in ("size small", "BBBC050")}  # fmt: skip
    benchmark.draw_robustness({"rows": rows}, tmp_path / "figures" / "robustness.png")
    assert (tmp_path / "figures" / "robustness.png").read_bytes().startswith(b"\x89PNG")


def test_other_weights_and_overrides_reach_the_network_runs_and_the_report(benchmark, monkeypatch, tmp_path):
    """``--segdet-ckpt-dir`` and ``--segdet-overrides`` measure a candidate: they reach the network's runs only (the
    classical baseline stays as it is), and the report says which weights and overrides it measured."""
    import cellbundles.synth.dataset

    calls = []
    monkeypatch.setattr(cellbundles.synth.dataset, "write_dataset", lambda *args, **kwargs: None)
    monkeypatch.setattr(benchmark, "run_bundle", lambda bundle, configs, overrides, log_file: calls.append((configs, overrides)) or 1.0)
    monkeypatch.setattr(benchmark, "_diameter_errors", lambda folder: {"scale_space": 0.1, "mask": 0.2})
    scores = [{"volume": "v", "instance_f1": 0.5, "centroid_f1": 0.6, "dice": 0.7, "count_error": 0.1}]
    monkeypatch.setattr(benchmark, "_score_folder", lambda folder, output_dir: scores)
    parser = benchmark.argparse.ArgumentParser()
    benchmark.add_robustness_arguments(parser)
    args = parser.parse_args(["--segdet-ckpt-dir", str(tmp_path / "candidate"), "--segdet-overrides", '{"distance_output": true}'])
    args.quick, args.output_dir, args.report_name = True, tmp_path / "benchmarks", "robustness_candidate"
    results, markdown = benchmark.robustness_section(args)
    network = [overrides for configs, overrides in calls if configs == benchmark.ROBUSTNESS_METHODS["nuclei_segdet_3d"]]
    baseline = [overrides for configs, overrides in calls if configs == benchmark.ROBUSTNESS_METHODS["classical baseline"]]
    assert len(network) == len(baseline) == 2  # the two settings of a quick run
    assert all(o["ckpt_dir"] == str(tmp_path / "candidate") and o["distance_output"] is True for o in network)
    assert not any("ckpt_dir" in o or "distance_output" in o for o in baseline)
    assert f"weights: {tmp_path / 'candidate'}" in markdown and "Shipped" not in markdown
    assert results["segdet_overrides"] == {"distance_output": True}
