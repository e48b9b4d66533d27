"""Pieces of ``scripts/benchmark.py recyclegan``: the seed's object scores beside the instance scores, the real
data sets found under ``--dataset_dir`` (BBBC050 test embryos linked as a subset), the intensity distances and the
report's verdict line."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from cellbundles.io import write_image


def test_shape_scores_add_the_seeds_object_scores(benchmark):
    labels = np.zeros((8, 32, 32), np.int32)
    labels[1:7, 2:12, 2:12], labels[1:7, 16:30, 16:30] = 1, 2
    predicted = labels.copy()
    predicted[1:7, 2:12, 2:7] = 0  # half of nucleus 1: IoU 0.5 (a match), covered 50 % (a match for the seed)
    predicted[1:7, 16:30, 16:21] = 0  # 9 / 14 of nucleus 2
    predicted[0, 0, 0] = 3  # a speck under 50 voxels: removed before the seed's matching only
    scores = benchmark.shape_scores(labels, predicted, (1.0, 1.0, 1.0))
    assert scores["object_f1"] == 1.0 and scores["object_precision"] == 1.0 and scores["object_recall"] == 1.0
    assert scores["instance_f1"] == pytest.approx(2 * 2 / (2 + 3))


def test_real_data_sets_under_dataset_dir(benchmark, tmp_path):
    volume = np.zeros((4, 8, 8), np.uint16)
    for name in ("Emb01_t001", "Emb10_t001", "Emb11_t201"):
        for sub in ("images", "labels"):
            write_image(tmp_path / "data" / "bbbc050_mouse_embryo_3d" / sub / f"{name}.tif", volume, (1.75, 0.8, 0.8))
    args = argparse.Namespace(dataset_dir=tmp_path / "data")
    datasets = benchmark._recyclegan_data(args, tmp_path / "work")
    subset = datasets["BBBC050 Emb10, Emb11 (10 volumes)"]
    assert sorted(p.name for p in (subset[0] / "labels").iterdir()) == ["Emb10_t001.tif", "Emb11_t201.tif"]
    assert datasets["QCANet embryo 8_cell_stage"][1] == (1.75, 0.8, 0.8)  # from data/samples: no voxel size in the file


def test_intensity_distances(benchmark, tmp_path):
    rng = np.random.default_rng(0)
    for name, scale in (("a", 1.0), ("b", 1.0), ("c", 0.2)):
        write_image(tmp_path / f"{name}.tif", (rng.random((4, 16, 16)) ** (1 / scale)).astype(np.float32), (1.0, 1.0, 1.0))
    same = benchmark.intensity_distances([tmp_path / "a.tif"], [tmp_path / "a.tif"])
    assert same == {"wasserstein": 0.0, "jensen_shannon": 0.0}
    close = benchmark.intensity_distances([tmp_path / "a.tif"], [tmp_path / "b.tif"])
    far = benchmark.intensity_distances([tmp_path / "a.tif"], [tmp_path / "c.tif"])
    assert close["wasserstein"] < far["wasserstein"] and close["jensen_shannon"] < far["jensen_shannon"]


def test_report_states_the_target_first(benchmark):
    gan, raw = benchmark.SHAPE_ARMS["gan"], benchmark.SHAPE_ARMS["raw"]
    mean = lambda f1: {"mean": {k: f1 for k in benchmark.SHAPE_SCORE_KEYS}, "worst": {k: f1 for k in benchmark.SHAPE_SCORE_KEYS}, "seconds": 1.0}  # noqa: E731
    results = {"training": {}, "methods": {"gan": gan, "raw": raw, "segdet": "segdet"}, "real_volumes_for_distance": 1,
               "real_set": "real (gonuclear)", "rows": {"real": {"provenance": "p", "volumes": 1, gan: mean(0.75), raw: mean(0.5), "segdet": mean(0.8)}},
               "intensity_distance_to_real": {}, "figure": "variant_real_vs_generated.png",
               "overrides": {"pairs": {"gap_width": 1}, "shape_train": {}, "shape_inference": {}}}  # fmt: skip
    text = benchmark._recyclegan_markdown(results)
    assert text.startswith("## Result first")
    assert "Config values other than the bundles' defaults: pairs `{\"gap_width\": 1}`." in text
    assert "![real vs generated slices](../figures/variant_real_vs_generated.png)" in text
    assert "Intensity distance to the real volumes (real (gonuclear): 1 volumes;" in text
    assert "- real: GAN-trained 0.750, raw-phantom-trained 0.500 (+0.250; target >= 0.70 and >= +0.20: met); best other method segdet 0.800" in text


def test_config_overrides_are_json_arguments(benchmark):
    parser = benchmark.build_parser()
    args = parser.parse_args(["recyclegan", "--pair-overrides", '{"packing": [0.08, 0.4], "gap_width": 1}'])
    assert args.pair_overrides == {"packing": [0.08, 0.4], "gap_width": 1} and args.shape_train_overrides == {}
    assert args.real_volumes is None
    assert parser.parse_args(["recyclegan", "--real-volumes", "some/dir"]).real_volumes == Path("some/dir")
    with pytest.raises(SystemExit):
        parser.parse_args(["recyclegan", "--shape-inference-overrides", "split_h=0.5"])
