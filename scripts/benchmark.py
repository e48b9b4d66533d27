#!/usr/bin/env python
"""Benchmarks of cellbundles: one subcommand per section, each writing ``<output-dir>/<section>.json`` and ``.md``.

Usage::

    python scripts/benchmark.py metrics            # full size, writes docs/benchmarks/metrics.{json,md}
    python scripts/benchmark.py metrics --quick    # small smoke run, writes outputs/benchmarks/

A section is a function that takes the parsed arguments and returns ``(results, markdown_body)``;
register it in :data:`SECTIONS` with a function adding its own arguments. Every report carries
the machine description (CPU, cores, memory, library versions, date).
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import os
import platform
import resource
import shlex
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cellbundles.bundle_run import run_bundle, run_bundle_measured
from cellbundles.io import atomic_write

REPO_ROOT = Path(__file__).resolve().parents[1]
FULL_OUTPUT_DIR = REPO_ROOT / "docs" / "benchmarks"
QUICK_OUTPUT_DIR = REPO_ROOT / "outputs" / "benchmarks"


# ---------------------------------------------------------------------------------------------
# shared helpers


def machine_description() -> dict:
    """CPU model, core count, memory, Python and library versions, and the date."""
    import scipy

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        mem_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
        memory_gb = round(mem_kb / 2**20, 1)
    except (OSError, StopIteration):
        memory_gb = None
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": memory_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def max_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_call(fn: Callable, repeats: int) -> tuple[list[float], object]:
    """Wall-clock seconds of ``repeats`` calls and the last return value."""
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return times, value


def traced_peak_mb(fn: Callable) -> float:
    """Peak memory allocated (numpy arrays included) during one call, in MiB, with tracemalloc."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def write_report(
    section: str, results: dict, markdown_body: str, output_dir: Path, command: str | None = None
) -> tuple[Path, Path]:
    """Write ``<section>.json`` (results + machine) and ``<section>.md`` (machine table + body).

    ``command`` is the command line named in the header (default ``python scripts/benchmark.py <section>``).
    """
    machine = machine_description()
    payload = {"section": section, "machine": machine, **results}
    json_path, md_path = output_dir / f"{section}.json", output_dir / f"{section}.md"
    _write_text(json_path, json.dumps(payload, indent=2) + "\n")
    machine_rows = "\n".join(f"| {k} | {v} |" for k, v in machine.items())
    command = command or f"python scripts/benchmark.py {section}{' --quick' if results.get('quick') else ''}"
    header = (
        f"# Benchmark: {section}\n\nProduced by `{command}`; raw numbers in `{json_path.name}`.\n\n"
        f"| machine | |\n| --- | --- |\n{machine_rows}\n\n"
    )
    _write_text(md_path, header + markdown_body)
    return json_path, md_path


# ---------------------------------------------------------------------------------------------
# section "metrics": speed and memory of cellbundles.metrics.match_instances


def jittered_grid_labels(
    shape: tuple[int, ...],
    cell: tuple[int, ...],
    radius: tuple[float, ...],
    rng: np.random.Generator,
    dtype: type = np.int32,
) -> tuple[np.ndarray, np.ndarray]:
    """A ground-truth and a predicted label image of ellipsoids (discs in 2D) on a jittered grid.

    One ellipsoid per grid cell (3 % of the cells empty), label ids random and non-consecutive.
    The prediction shifts and rescales every object, misses 3 %, adds 3 % false objects in empty
    cells, merges 3 % with their neighbour along the last axis and splits 3 % in two, so that the
    matching sees one-to-many candidates.
    """
    grid = tuple(s // c for s, c in zip(shape, cell))
    n_cells = int(np.prod(grid))
    radius = np.asarray(radius, dtype=np.float64)
    slack = np.maximum(np.asarray(cell) / 2 - radius * 1.15 - 1, 0)
    centres = (np.stack(np.unravel_index(np.arange(n_cells), grid), axis=1) + 0.5) * np.asarray(cell)
    true_centres = centres + rng.uniform(-1, 1, (n_cells, len(shape))) * slack
    true_radii = radius * rng.uniform(0.85, 1.15, (n_cells, len(shape)))
    pred_centres = true_centres + rng.uniform(-1, 1, (n_cells, len(shape))) * np.minimum(slack, 2)
    pred_radii = true_radii * rng.uniform(0.85, 1.15, (n_cells, len(shape)))

    fate = rng.random(n_cells)
    true_present = fate >= 0.03
    pred_present = (fate >= 0.06) | ((fate < 0.03) & (rng.random(n_cells) < 0.5))
    id_pool = rng.choice(min(int(np.iinfo(dtype).max), 2**31 - 1), size=3 * n_cells, replace=False) + 1
    true_ids = np.where(true_present, id_pool[:n_cells], 0)
    pred_ids = np.where(pred_present, id_pool[n_cells : 2 * n_cells], 0)
    split_ids = id_pool[2 * n_cells : 3 * n_cells]
    merge = (rng.random(n_cells) < 0.03) & ((np.arange(n_cells) + 1) % grid[-1] != 0)
    merge_target = np.flatnonzero(merge) + 1
    pred_ids[merge_target] = np.where(pred_ids[merge_target] > 0, pred_ids[merge_target - 1], 0)
    split = rng.random(n_cells) < 0.03

    strides = np.cumprod((1,) + grid[:0:-1])[::-1]
    true_img = np.zeros(shape, dtype=dtype)
    pred_img = np.zeros(shape, dtype=dtype)
    rows_per_slab = max(1, (1 << 22) // int(np.prod(shape[1:])))
    for start in range(0, shape[0], rows_per_slab):
        stop = min(start + rows_per_slab, shape[0])
        coords = np.ogrid[tuple(slice(start, stop) if a == 0 else slice(0, n) for a, n in enumerate(shape))]
        cell_id = sum(np.minimum(c // k, g - 1) * s for c, k, g, s in zip(coords, cell, grid, strides))
        images = ((true_img, true_ids, true_centres, true_radii), (pred_img, pred_ids, pred_centres, pred_radii))
        for out, ids, cen, rad in images:
            dist = sum(((c - cen[cell_id, a]) / rad[cell_id, a]) ** 2 for a, c in enumerate(coords))
            label = np.where(dist <= 1.0, ids[cell_id], 0)
            if out is pred_img:
                second_half = split[cell_id] & (coords[-1] > cen[cell_id, -1]) & (label > 0)
                label = np.where(second_half, split_ids[cell_id], label)
            out[start:stop] = label
    return true_img, pred_img


def naive_match(y_true: np.ndarray, y_pred: np.ndarray, thresh: float) -> tuple[int, float]:
    """Reference: IoU of every (true, pred) mask pair, dense Hungarian; returns (tp, mean matched IoU)."""
    from scipy.optimize import linear_sum_assignment

    true_ids = np.unique(y_true[y_true > 0])
    pred_ids = np.unique(y_pred[y_pred > 0])
    pred_masks = [y_pred == j for j in pred_ids]
    iou = np.zeros((true_ids.size, pred_ids.size))
    for i, t in enumerate(true_ids):
        true_mask = y_true == t
        for j, pred_mask in enumerate(pred_masks):
            inter = np.count_nonzero(true_mask & pred_mask)
            if inter:
                iou[i, j] = inter / np.count_nonzero(true_mask | pred_mask)
    value = np.where(iou >= thresh, min(iou.shape) + 1 + iou, 0.0)
    rows, cols = linear_sum_assignment(value, maximize=True)
    matched = iou[rows, cols][value[rows, cols] > 0]
    return int(matched.size), float(matched.mean()) if matched.size else 0.0


def unique_keys_match(y_true: np.ndarray, y_pred: np.ndarray, thresh: float) -> tuple[int, float]:
    """Reference: ``np.unique`` of one int64 (true, pred) key per foreground voxel over the whole image.

    No chunks and no run-length step; the same sparse assignment. Returns (tp, mean matched IoU).
    """
    from cellbundles.metrics.assignment import max_cardinality_assignment

    t = y_true.reshape(-1).astype(np.int64)
    p = y_pred.reshape(-1).astype(np.int64)
    foreground = (t != 0) | (p != 0)
    base = int(p.max()) + 1
    keys, counts = np.unique(t[foreground] * base + p[foreground], return_counts=True)
    _, true_row = np.unique(keys // base, return_inverse=True)
    _, pred_row = np.unique(keys % base, return_inverse=True)
    true_size = np.bincount(true_row, weights=counts)
    pred_size = np.bincount(pred_row, weights=counts)
    pair = (keys // base > 0) & (keys % base > 0)
    true_row, pred_row, inter = true_row[pair], pred_row[pair], counts[pair]
    iou = inter / (true_size[true_row] + pred_size[pred_row] - inter)
    candidate = iou >= thresh
    chosen = max_cardinality_assignment(true_row[candidate], pred_row[candidate], iou[candidate])
    matched = iou[candidate][chosen]
    return int(matched.size), float(matched.mean()) if matched.size else 0.0


def _summary(result) -> dict:
    return {k: result.to_dict()[k] for k in ("tp", "fp", "fn", "n_true", "n_pred", "f1", "mean_matched_score")}


def metrics_section(args: argparse.Namespace) -> tuple[dict, str]:
    """Time and memory of ``match_instances`` on a 2D image and a 3D volume of synthetic nuclei."""
    from cellbundles.metrics import match_instances

    rng = np.random.default_rng(args.seed)
    if args.quick:
        cases = [
            ("2D 512x512", (512, 512), (37, 37), (13.0, 13.0), np.int32),
            ("3D 32x256x256", (32, 256, 256), (16, 28, 28), (5.0, 9.0, 9.0), np.uint16),
        ]
        naive_crop = (slice(0, 128), slice(0, 128))
    else:
        cases = [
            ("2D 2048x2048", (2048, 2048), (37, 37), (13.0, 13.0), np.int32),
            ("3D 128x1024x1024", (128, 1024, 1024), (16, 28, 28), (5.0, 9.0, 9.0), np.uint16),
        ]
        naive_crop = (slice(0, 512), slice(0, 512))

    records = []
    for name, shape, cell, radius, dtype in cases:
        print(f"[metrics] generating {name} ...", flush=True)
        y_true, y_pred = jittered_grid_labels(shape, cell, radius, rng, dtype=dtype)
        run = lambda: match_instances(y_true, y_pred, thresh=0.5)  # noqa: E731
        times, result = time_call(run, args.repeats)
        peak = traced_peak_mb(run)
        record = {
            "case": name,
            "shape": list(shape),
            "dtype": np.dtype(dtype).name,
            "input_mb": round((y_true.nbytes + y_pred.nbytes) / 2**20, 1),
            "match_instances": {
                "median_s": round(statistics.median(times), 4),
                "runs_s": [round(t, 4) for t in times],
                "traced_peak_mb": round(peak, 1),
                "result": _summary(result),
            },
            "process_max_rss_mb_before_references": round(max_rss_mb(), 1),
        }
        low_times, low_result = time_call(lambda: match_instances(y_true, y_pred, thresh=0.1), args.repeats)
        record["match_instances_iou_0.1"] = {
            "median_s": round(statistics.median(low_times), 4),
            "result": _summary(low_result),
        }
        print(f"[metrics] {name}: match_instances {record['match_instances']}", flush=True)
        print(f"[metrics] {name}: at IoU 0.1 {record['match_instances_iou_0.1']}", flush=True)
        if not args.skip_references:
            ref_times, (ref_tp, ref_iou) = time_call(lambda: unique_keys_match(y_true, y_pred, 0.5), 1)
            record["unique_keys_reference"] = {
                "seconds": round(ref_times[0], 4),
                "traced_peak_mb": round(traced_peak_mb(lambda: unique_keys_match(y_true, y_pred, 0.5)), 1),
                "same_result": ref_tp == result.tp and abs(ref_iou - result.mean_matched_score) < 1e-12,
            }
            print(f"[metrics] {name}: unique-keys reference {record['unique_keys_reference']}", flush=True)
            if len(shape) == 2:
                crop_true, crop_pred = y_true[naive_crop], y_pred[naive_crop]
                naive_times, (naive_tp, naive_iou) = time_call(lambda: naive_match(crop_true, crop_pred, 0.5), 1)
                ours_times, ours = time_call(lambda: match_instances(crop_true, crop_pred, 0.5), 3)
                record["naive_reference_on_crop"] = {
                    "crop": list(crop_true.shape),
                    "n_true": ours.n_true,
                    "n_pred": ours.n_pred,
                    "naive_seconds": round(naive_times[0], 4),
                    "match_instances_seconds": round(min(ours_times), 4),
                    "same_result": naive_tp == ours.tp and abs(naive_iou - ours.mean_matched_score) < 1e-12,
                }
                print(f"[metrics] {name}: naive reference {record['naive_reference_on_crop']}", flush=True)
        records.append(record)
        del y_true, y_pred

    results = {
        "quick": bool(args.quick),
        "repeats": args.repeats,
        "process_max_rss_mb": round(max_rss_mb(), 1),
        "cases": records,
    }
    return results, _metrics_markdown(results)


def _metrics_markdown(results: dict) -> str:
    lines = [
        "## `match_instances` (IoU >= 0.5, one-to-one Hungarian matching)",
        "",
        "Synthetic nuclei on a jittered grid (ellipsoids in 3D), non-consecutive ids; the prediction",
        "shifts and rescales every object and adds 3 % misses, false objects, merges and splits.",
        "Time: median wall clock of the full call (overlap counting + matching). Memory: peak of the",
        "allocations made during one call (tracemalloc, numpy included), on top of the two input images;",
        "process RSS: peak resident memory of the benchmark process so far (inputs, their generator and",
        "the matching, before any reference runs).",
        "At IoU 0.1 merged and split objects give candidate pairs that share objects, so the Hungarian",
        "algorithm runs on those connected components.",
        "",
        "| case | dtype | objects true / pred | inputs (MiB) | time (s) | extra memory (MiB) | process RSS (MiB) "
        "| F1 | time at IoU 0.1 (s) | F1 at IoU 0.1 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results["cases"]:
        m, low = r["match_instances"], r["match_instances_iou_0.1"]
        res = m["result"]
        lines.append(
            f"| {r['case']} | {r['dtype']} | {res['n_true']} / {res['n_pred']} | {r['input_mb']} | "
            f"{m['median_s']:.3f} | {m['traced_peak_mb']} | {r['process_max_rss_mb_before_references']} | "
            f"{res['f1']:.4f} | {low['median_s']:.3f} | {low['result']['f1']:.4f} |"
        )
    references = [r for r in results["cases"] if "unique_keys_reference" in r]
    if references:
        lines += [
            "",
            "## References",
            "",
            "- unique keys: one int64 key per foreground voxel and `np.unique` over the whole image (no chunks,",
            "  no run-length step), same matching code;",
            "- naive: IoU of every (true, predicted) mask pair and a dense Hungarian assignment, on a crop",
            "  (it grows as n_true x n_pred x voxels).",
            "",
            "| case | unique keys (s) | its extra memory (MiB) | same result | naive crop | naive (s) "
            "| match_instances on crop (s) | same result |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in references:
            u = r["unique_keys_reference"]
            n = r.get("naive_reference_on_crop")
            naive_cells = (
                f"{'x'.join(map(str, n['crop']))} ({n['n_true']} objects) | {n['naive_seconds']:.3f} | "
                f"{n['match_instances_seconds']:.4f} | {n['same_result']}"
                if n
                else "- | - | - | -"
            )
            unique_cells = f"{u['seconds']:.3f} | {u['traced_peak_mb']} | {u['same_result']}"
            lines.append(f"| {r['case']} | {unique_cells} | {naive_cells} |")
    lines += ["", f"Process peak RSS over the whole run: {results['process_max_rss_mb']} MiB.", ""]
    return "\n".join(lines)


def add_metrics_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per case (median reported)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the synthetic scenes")
    parser.add_argument("--skip-references", action="store_true", help="do not time the reference implementations")


# ---------------------------------------------------------------------------------------------
# section "segdet": accuracy, speed and memory of the nuclei_segdet_3d bundle (issue 4)

SEGDET_BUNDLE = REPO_ROOT / "bundles" / "nuclei_segdet_3d"


def conv3d_flops_per_second(channels: int = 32, size: int = 48, repeats: int = 3) -> float:
    """This machine's measured throughput of a plain 3x3x3 convolution (forward, float32), in FLOP/s."""
    import torch

    conv = torch.nn.Conv3d(channels, channels, 3, padding=1)
    x = torch.randn(1, channels, size, size, size)
    flops = 2 * channels * channels * 27 * size**3
    with torch.no_grad():
        conv(x)
        seconds, _ = time_call(lambda: conv(x), repeats)
    return flops / statistics.median(seconds)


def segdet_network_flops(patch: tuple[int, ...]) -> tuple[float, float]:
    """FLOPs of one forward pass of the shipped SegDetNet on ``patch``, and its measured forward seconds."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(SEGDET_BUNDLE / "configs" / "inference.json"))
    network = parser.get_parsed_content("network_def").eval()
    x = torch.zeros(1, 1, *patch)
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            network(x)
        seconds, _ = time_call(lambda: network(x), 3)
    return float(counter.get_total_flops()), statistics.median(seconds)


def segdet_section(args: argparse.Namespace) -> tuple[dict, str]:
    """Accuracy of nuclei_segdet_3d on unseen phantoms and real volumes; speed and memory of its inference."""
    from cellbundles.synth.dataset import write_dataset

    work = Path(tempfile.mkdtemp(prefix="segdet_bench_"))
    n_eval, shape = (2, [32, 64, 64]) if args.quick else (args.eval_volumes, [64, 128, 128])
    accuracy, peaks_mb = {}, []
    cases = {
        "phantoms (unseen seeds)": ({"dataset_dir": str(work / "phantoms"), "phantoms#n": n_eval,
                                     "phantoms#seed": 1000, "phantoms#shape": shape}),
        "GoNuclear ovule crop 1135": {"data_source": "datalist", "dataset_dir": str(REPO_ROOT / "data/samples/gonuclear_ovule_3d")},
        "QCANet embryo 8_cell_stage": {"data_source": "datalist", "dataset_dir": str(REPO_ROOT / "data/samples/qcanet_mouse_embryo_3d"),
                                       "input_spacing": [1.75, 0.8, 0.8]},
    }  # fmt: skip
    for name, overrides in cases.items():
        output_dir = work / f"eval_{len(accuracy)}"
        seconds, peak_mb = run_bundle_measured(SEGDET_BUNDLE, ["train.json", "evaluate.json"],
                                               {**overrides, "output_dir": str(output_dir)}, log_file=output_dir.with_suffix(".log"))  # fmt: skip
        peaks_mb.append(peak_mb)
        metrics = json.loads((output_dir / "metrics.json").read_text())["metrics"]
        accuracy[name] = {**{k: round(float(v), 4) for k, v in metrics.items()}, "seconds": round(seconds, 1)}

    speed_shape = [16, 128, 128] if args.quick else list(args.speed_shape)
    speed_dir = work / "speed"
    write_dataset(speed_dir, "nuclei3d", 1, seed=2000, shape=speed_shape, n_nuclei=args.speed_nuclei if not args.quick else 10)
    speed = {}
    for mc in (0, args.mc_samples):
        output_dir = work / f"speed_out_mc{mc}"
        seconds, peak_mb = run_bundle_measured(SEGDET_BUNDLE, ["inference.json"], {"dataset_dir": str(speed_dir / "images"),
                                               "output_dir": str(output_dir), "mc_dropout_samples": mc},
                                               log_file=output_dir.with_suffix(".log"))  # fmt: skip
        peaks_mb.append(peak_mb)
        summary = json.loads((output_dir / "summary.json").read_text())
        speed[f"mc_dropout_samples={mc}"] = {
            "process_seconds": round(seconds, 1),
            "image_seconds": summary["images"][0]["seconds"],
            "voxels_per_second": round(float(np.prod(speed_shape)) / summary["images"][0]["seconds"]),
            "n_centroids": summary["images"][0].get("n_centroids"),
        }
    patch = (32, 64, 64)
    flops, forward_seconds = segdet_network_flops(patch)
    conv_rate = conv3d_flops_per_second()
    results = {
        "quick": args.quick,
        "accuracy": accuracy,
        "speed_shape": speed_shape,
        "speed": speed,
        "peak_rss_mb_largest_child": max((round(peak, 1) for peak in peaks_mb if peak is not None), default=None),
        "network": {
            "patch": list(patch),
            "gflops_per_patch": round(flops / 1e9, 3),
            "forward_seconds_per_patch": round(forward_seconds, 3),
            "achieved_gflops_per_second": round(flops / forward_seconds / 1e9, 2),
            "conv3d_gflops_per_second": round(conv_rate / 1e9, 2),
            "fraction_of_conv3d_throughput": round(flops / forward_seconds / conv_rate, 3),
        },
    }
    return results, _segdet_markdown(results)


def _segdet_markdown(results: dict) -> str:
    names = sorted({k for row in results["accuracy"].values() for k in row if k != "seconds"})
    lines = [
        "## Accuracy (`evaluate.json`, shipped weights)",
        "",
        "Detection: one-to-one matching of density peaks to true centroids within 3.28 um of the input volume;",
        "Dice, Hausdorff distances (um, max and 95th percentile), instance F1 (IoU >= 0.5) and the Rand error",
        "(1 - adapted Rand F-score) of the written mask and instances against the label file, on the input grid.",
        "",
        "| data | " + " | ".join(names) + " | seconds |",
        "| --- | " + " | ".join("---" for _ in names) + " | --- |",
    ]
    for case, row in results["accuracy"].items():
        lines.append(f"| {case} | " + " | ".join(str(row.get(n, "")) for n in names) + f" | {row['seconds']} |")
    shape = "x".join(str(v) for v in results["speed_shape"])
    lines += ["", f"## Inference speed on a {shape} phantom (`inference.json`, CPU, post-processing and writing included)", "",
              "| run | image seconds | process seconds (start-up included) | voxels / s | centroids |", "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for run, row in results["speed"].items():
        lines.append(
            f"| {run} | {row['image_seconds']} | {row['process_seconds']} | {row['voxels_per_second']} | {row['n_centroids']} |"
        )
    net = results["network"]
    lines += [
        "",
        f"Peak resident memory of the largest bundle process: {results['peak_rss_mb_largest_child']} MiB.",
        "",
        "## Network throughput",
        "",
        f"One {'x'.join(map(str, net['patch']))} patch: {net['gflops_per_patch']} GFLOP in {net['forward_seconds_per_patch']} s",
        f"= {net['achieved_gflops_per_second']} GFLOP/s, {net['fraction_of_conv3d_throughput']:.1%} of this machine's measured",
        f"plain 3x3x3 conv3d throughput ({net['conv3d_gflops_per_second']} GFLOP/s, 32 channels, 48^3).",
        "",
    ]
    return "\n".join(lines)


def add_segdet_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--eval-volumes", type=int, default=8, help="unseen phantom volumes to evaluate")
    parser.add_argument("--speed-shape", type=int, nargs=3, default=(64, 512, 512), help="volume of the speed run")
    parser.add_argument("--speed-nuclei", type=int, default=400, help="nuclei in the speed volume")
    parser.add_argument("--mc-samples", type=int, default=20, help="Monte-Carlo dropout passes of the second speed run")


# ---------------------------------------------------------------------------------------------
# section "robustness": nuclei_segdet_3d and the classical baseline on data unlike the training data

#: one factor at a time around the medium setting: name -> keywords of the randomised generator (the voxel
#: size is fixed, so a size change is a change in voxels per nucleus, as a user's data would bring)
ROBUSTNESS_MEDIUM = {"radius_um": (3.0, 5.0), "elongation": 1.3, "packing": 0.25, "photons": 200.0, "spacing": (1.25, 0.5, 0.5)}
ROBUSTNESS_GRID = {
    "size small (r 1.5-2.5 um)": {"radius_um": (1.5, 2.5)},
    "size medium (r 3-5 um)": {},
    "size large (r 6-9 um)": {"radius_um": (6.0, 9.0)},
    "size elongated (axis ratio up to 2)": {"elongation": 2.0},
    "density sparse (packing 0.05)": {"packing": 0.05},
    "density crowded (packing 0.6)": {"packing": 0.6},
    "photons 20": {"photons": 20.0},
    "photons 100": {"photons": 100.0},
    "photons 1000": {"photons": 1000.0},
    "anisotropy 1": {"spacing": (0.5, 0.5, 0.5)},
    "anisotropy 3": {"spacing": (1.5, 0.5, 0.5)},
    "anisotropy 6": {"spacing": (3.0, 0.5, 0.5)},
    "hard: crowded, 25 photons, axial PSF x4": {"packing": 0.7, "photons": 25.0, "psf_axial_ratio": 4.0},
}
ROBUSTNESS_METHODS = {"nuclei_segdet_3d": ["inference.json"], "classical baseline": ["inference.json", "baseline.json"]}
CENTROID_RADIUS_UM = 3.28
REAL_TEST_SETS = {
    "bbbc050": "BBBC050 test embryos (Emb10, Emb11: 10 volumes)",
    "gonuclear_halves": "GoNuclear ovule 1135, high-x half",
    "qcanet": "QCANet embryo 8_cell_stage",
}
"""Names of the test folders of ``scripts/prepare_segdet_data.py`` in the robustness table."""


def volume_scores(labels: np.ndarray, instances: np.ndarray, spacing: tuple[float, ...]) -> dict:
    """Instance F1 at IoU 0.5, centroid F1 within 3.28 um, Dice and relative count error of one volume."""
    from cellbundles.metrics.centroids import instance_centroids, match_centroids
    from cellbundles.metrics.matching import match_instances
    from cellbundles.metrics.segmentation import dice

    labels, instances = labels.astype(np.int64), instances.astype(np.int64)
    n_true, n_pred = len(np.unique(labels[labels > 0])), len(np.unique(instances[instances > 0]))
    centroids = match_centroids(instance_centroids(labels)[1], instance_centroids(instances)[1], CENTROID_RADIUS_UM, spacing)
    return {
        "instance_f1": float(match_instances(labels, instances, 0.5).f1),
        "centroid_f1": float(centroids.f1),
        "dice": float(dice(labels > 0, instances > 0)),
        "count_error": abs(n_pred - n_true) / max(n_true, 1),
        "n_true": n_true,
        "n_pred": n_pred,
    }


def _score_folder(dataset: Path, output_dir: Path, score: Callable = volume_scores, spacing=None) -> list[dict]:
    """Scores of every ``<stem>_instances`` written in ``output_dir`` against ``dataset/labels`` (``score(labels,
    instances, spacing)``; ``spacing`` for label files without a voxel size)."""
    from cellbundles.io import read_image
    from cellbundles.io.image import image_stem

    rows = []
    for label_file in sorted((dataset / "labels").iterdir()):
        stem = image_stem(label_file)
        labels, file_spacing = read_image(label_file)
        predicted = next(output_dir.glob(f"{stem}_instances.*"))
        rows.append({"volume": stem, **score(labels, read_image(predicted)[0], file_spacing or spacing)})
    return rows


def _diameter_errors(dataset: Path) -> dict:
    """Median relative error of each diameter estimator against the labels' median equivalent diameter."""
    from cellbundles.io import read_image
    from cellbundles.postprocess import DIAMETER_METHODS, estimate_nucleus_diameter, median_diameter_um

    errors: dict[str, list[float]] = {method: [] for method in DIAMETER_METHODS}
    for image_file in sorted((dataset / "images").iterdir()):
        image, spacing = read_image(image_file)
        truth = median_diameter_um(read_image(dataset / "labels" / image_file.name)[0], spacing)
        for method in DIAMETER_METHODS:
            errors[method].append(estimate_nucleus_diameter(image, spacing, method) / truth - 1.0)
    return {method: round(float(np.median(np.abs(values))), 3) for method, values in errors.items()}


def _aggregate(rows: list[dict], keys: tuple[str, ...] = ("instance_f1", "centroid_f1", "dice", "count_error")) -> dict:
    """Mean and worst volume (lowest instance F1) of per-volume scores."""
    worst = min(rows, key=lambda row: row["instance_f1"])
    return {
        "mean": {key: round(float(np.mean([row[key] for row in rows])), 3) for key in keys},
        "worst": {key: round(float(worst[key]), 3) for key in keys} | {"volume": worst["volume"]},
        "volumes": rows,
    }


def _real_datasets(args: argparse.Namespace, work: Path) -> dict[str, tuple[Path, str]]:
    """Real annotated test volumes of ``scripts/prepare_segdet_data.py``'s datalist, one folder per source:
    name -> (folder in the canonical layout, how it relates to training)."""
    if args.segdet_data is None:
        return {}
    test = json.loads((args.segdet_data / "datalist.json").read_text())["test"]
    datasets: dict[str, tuple[Path, str]] = {}
    for item in test:
        source = Path(item["image"]).parts[1]
        folder = work / "real" / source
        for key, sub in (("image", "images"), ("label", "labels")):
            (folder / sub).mkdir(parents=True, exist_ok=True)
            (folder / sub / Path(item[key]).name).symlink_to((args.segdet_data / item[key]).resolve())
        datasets[REAL_TEST_SETS.get(source, source)] = (folder, "held out of training")
    return datasets


def robustness_section(args: argparse.Namespace) -> tuple[dict, str]:
    """nuclei_segdet_3d vs the classical baseline on a grid of unseen phantom settings and on real volumes."""
    from cellbundles.synth.dataset import write_dataset

    work = Path(tempfile.mkdtemp(prefix="robustness_"))
    n_volumes = 1 if args.quick else args.volumes
    grid = dict(list(ROBUSTNESS_GRID.items())[:2]) if args.quick else ROBUSTNESS_GRID
    datasets = {}
    for index, (name, fixed) in enumerate(grid.items()):
        folder = work / f"setting_{index:02d}"
        options = {**ROBUSTNESS_MEDIUM, **fixed}
        write_dataset(folder, "nuclei3d_random", n_volumes, seed=args.seed + 100 * index, val_fraction=0.0, **options)
        datasets[name] = (folder, "phantoms, seeds never used in training")
    datasets.update(_real_datasets(args, work))
    results: dict = {"quick": args.quick, "volumes_per_setting": n_volumes, "medium": {k: list(v) if isinstance(v, tuple) else v for k, v in ROBUSTNESS_MEDIUM.items()}, "rows": {}}  # fmt: skip
    results.update(segdet_ckpt_dir=str(args.segdet_ckpt_dir or "shipped"), segdet_overrides=args.segdet_overrides)
    network_options = {**args.segdet_overrides, **({"ckpt_dir": str(args.segdet_ckpt_dir)} if args.segdet_ckpt_dir else {})}
    for name, (folder, provenance) in datasets.items():
        row = {"provenance": provenance, "diameter_error": _diameter_errors(folder)}
        for method, configs in ROBUSTNESS_METHODS.items():
            output_dir = work / "out" / f"{len(results['rows']):02d}_{method.replace(' ', '_')}"
            overrides = {"dataset_dir": str(folder / "images"), "output_dir": str(output_dir)}
            overrides.update(network_options if method == "nuclei_segdet_3d" else {})
            seconds = run_bundle(SEGDET_BUNDLE, configs, overrides, log_file=output_dir.with_suffix(".log"))
            row[method] = {**_aggregate(_score_folder(folder, output_dir)), "seconds": round(seconds, 1)}
            print(f"{name} / {method}: {row[method]['mean']}", flush=True)
        results["rows"][name] = row
    results["figure"] = f"{args.report_name}.png"  # per report, so that a second report leaves the first figure alone
    draw_robustness(results, (args.output_dir or REPO_ROOT / "outputs" / "benchmarks").parent / "figures" / results["figure"])
    return results, _robustness_markdown(results)


def draw_robustness(results: dict, path: Path) -> None:
    """Bar chart of the mean instance F1 (bars) and the worst volume (ticks) of each method on each row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["rows"])
    methods = list(ROBUSTNESS_METHODS)
    width = 0.8 / len(methods)
    figure, axis = plt.subplots(figsize=(max(8.0, 0.7 * len(names)), 4.5), constrained_layout=True)
    for index, method in enumerate(methods):
        positions = np.arange(len(names)) + (index - (len(methods) - 1) / 2) * width
        means = [results["rows"][name][method]["mean"]["instance_f1"] for name in names]
        worst = [results["rows"][name][method]["worst"]["instance_f1"] for name in names]
        axis.bar(positions, means, width, label=f"{method} (mean)")
        axis.scatter(positions, worst, marker="_", s=120, color="black", zorder=3,
                     label="worst volume" if index == 0 else None)  # fmt: skip
    axis.set_xticks(np.arange(len(names)), names, rotation=35, ha="right", fontsize=8)
    axis.set_ylabel("instance F1 at IoU 0.5")
    axis.set_ylim(0, 1)
    axis.legend(fontsize=8)
    axis.set_title("nuclei_segdet_3d vs the classical baseline on data unlike its training data")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _robustness_markdown(results: dict) -> str:
    methods = list(ROBUSTNESS_METHODS)
    weights = "Shipped `nuclei_segdet_3d` weights"
    if results.get("segdet_ckpt_dir", "shipped") != "shipped" or results.get("segdet_overrides"):
        weights = f"`nuclei_segdet_3d` (weights: {results['segdet_ckpt_dir']}; overrides: {results['segdet_overrides']})"
    lines = [
        f"{weights} run as a user runs them (`inference.json`, `--nucleus_diameter_um auto`)",
        "beside the classical baseline (`baseline.json`: threshold + distance-transform watershed, the same diameter",
        f"estimate). Phantoms: `nuclei3d_random` with one factor changed at a time from the medium setting {results['medium']},",
        f"{results['volumes_per_setting']} volume(s) each, seeds never used in training. Each cell: mean / worst volume",
        f"(the volume with the lowest instance F1). Instance F1 at IoU 0.5; centroid F1 within {CENTROID_RADIUS_UM} um;",
        "Dice of the foreground; count error |N_pred - N_true| / N_true. Diameter error: median over the volumes of",
        "|estimate / truth - 1| of the two `--nucleus_diameter_um auto` estimators (scale-space blobs, the default;",
        "Otsu-mask inscribed radii), the truth being the median equivalent-sphere diameter of the annotated nuclei.",
        "",
        "| data | provenance | " + " | ".join(f"{m}: instance F1 | {m}: centroid F1 | {m}: Dice | {m}: count error" for m in methods)
        + " | diameter error scale-space / mask |",
        "| --- | --- | " + " | ".join("---: | ---: | ---: | ---:" for _ in methods) + " | ---: |",
    ]
    for name, row in results["rows"].items():
        cells = []
        for method in methods:
            mean, worst = row[method]["mean"], row[method]["worst"]
            cells += [f"{mean[k]:.3f} / {worst[k]:.3f}" for k in ("instance_f1", "centroid_f1", "dice", "count_error")]
        diameter = row["diameter_error"]
        lines.append(f"| {name} | {row['provenance']} | " + " | ".join(cells) + f" | {diameter['scale_space']:.2f} / {diameter['mask']:.2f} |")
    losses = [name for name, row in results["rows"].items() if row[methods[0]]["mean"]["instance_f1"] < row[methods[1]]["mean"]["instance_f1"]]
    lines += ["", f"Rows where the network's mean instance F1 is below the classical baseline: {', '.join(losses) if losses else 'none'}.", ""]
    lines += [f"![instance F1 per row](../figures/{results['figure']})", ""]
    return "\n".join(lines)


def add_robustness_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--volumes", type=int, default=3, help="phantom volumes per setting")
    parser.add_argument("--seed", type=int, default=50_000, help="base seed of the phantoms (training phantoms use 0-999 and 5000-5007)")
    parser.add_argument("--segdet_data", type=Path, default=None,
                        help="folder written by scripts/prepare_segdet_data.py: its test volumes are scored")  # fmt: skip
    parser.add_argument("--segdet-ckpt-dir", type=Path, default=None,
                        help="folder with the model.pt of nuclei_segdet_3d to measure (default: the shipped weights)")  # fmt: skip
    parser.add_argument("--segdet-overrides", type=json.loads, default={}, metavar="JSON",
                        help="overrides of the network method's inference.json, e.g. '{\"distance_output\": true}'")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# section "memory": resident memory over many inferences in one process (a leak shows as a slope)

MEMORY_PHANTOMS = {2: ("nuclei2d", {"shape": (128, 128), "n_nuclei": 10, "spacing": (0.5, 0.5)}),
                   3: ("nuclei3d", {"shape": (16, 64, 64), "n_nuclei": 5, "spacing": (0.8, 0.5, 0.5)})}  # fmt: skip
"""Spatial dims -> phantom generator and its options (small images: the check is about growth, not speed)."""
MEMORY_BUNDLES = {"nuclei_resunet_2d": 2, "nuclei_semantic_2d": 2, "nuclei_segdet_3d": 3}
MEMORY_WARMUP = 10
"""Inferences left out of the slope: the first runs fill caches and allocator pools."""


def rss_mb() -> float:
    """Current resident memory of this process, in MiB (``VmRSS`` of ``/proc/self/status``)."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def rss_slope_kib(rss: list[float], warmup: int = MEMORY_WARMUP) -> float:
    """Least-squares slope of resident memory (MiB, one value after each inference) per inference, in KiB,
    over the inferences after ``warmup`` (all of them when there are too few)."""
    values = rss[warmup:] if len(rss) - warmup >= 2 else rss
    return float(np.polyfit(np.arange(len(values)), values, 1)[0] * 1024) if len(values) >= 2 else 0.0


def bundle_rss_trace(name: str, inferences: int, images: int, work: Path) -> dict:
    """Run ``name``'s inference evaluator over a folder of ``images`` phantoms until it made ``inferences``
    inferences, in this process; RSS before the first and after each inference, and seconds per inference."""
    from ignite.engine import Events
    from monai.bundle import ConfigParser

    from cellbundles.synth.dataset import write_dataset

    kind, options = MEMORY_PHANTOMS[MEMORY_BUNDLES[name]]
    write_dataset(work / name, kind, images, seed=0, **options)
    parser = ConfigParser()
    parser.read_config(str(REPO_ROOT / "bundles" / name / "configs" / "inference.json"))
    parser.update({"bundle_root": str(REPO_ROOT / "bundles" / name), "dataset_dir": str(work / name),
                   "output_dir": str(work / f"{name}_out")})  # fmt: skip
    evaluator = parser.get_parsed_content("evaluator")
    rss = []
    evaluator.add_event_handler(Events.ITERATION_COMPLETED, lambda engine: rss.append(rss_mb()))
    before, start = rss_mb(), time.perf_counter()
    while len(rss) < inferences:
        evaluator.run()
    seconds = (time.perf_counter() - start) / len(rss)
    rss = rss[:inferences]
    return {"image_shape": list(options["shape"]), "inferences": len(rss), "rss_before_mb": round(before, 1),
            "rss_after_warmup_mb": round(rss[min(MEMORY_WARMUP, len(rss)) - 1], 1), "rss_after_mb": round(rss[-1], 1),
            "slope_kib_per_inference": round(rss_slope_kib(rss), 2), "seconds_per_inference": round(seconds, 3),
            "rss_mb": [round(value, 1) for value in rss]}  # fmt: skip


def memory_section(args: argparse.Namespace) -> tuple[dict, str]:
    """Resident memory of each bundle's inference over many consecutive inferences in one process."""
    inferences = 12 if args.quick else args.inferences
    work = Path(tempfile.mkdtemp(prefix="memory_"))
    rows = {name: bundle_rss_trace(name, inferences, args.images, work) for name in args.bundles}
    return {"quick": args.quick, "warmup": MEMORY_WARMUP, "images_per_run": args.images, "bundles": rows}, \
        _memory_markdown(rows)  # fmt: skip


def _memory_markdown(rows: dict) -> str:
    lines = [
        f"Each bundle's `inference.json` evaluator (shipped weights, CPU) re-run over one folder of phantoms in "
        f"one process; resident memory (RSS) read after every inference. The slope is fitted after the first "
        f"{MEMORY_WARMUP} inferences (warm-up). RSS also swings by up to tens of MiB from one image to the next "
        "(allocator pools, images resampled to different sizes), so a slope of a few tens of KiB with no growth "
        "after the warm-up is noise; a leak shows as a steady slope and as growth.",
        "",
        "| bundle | image | inferences | RSS before (MiB) | after warm-up | after | growth after warm-up (MiB) "
        "| slope (KiB / inference) | s / inference |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in rows.items():
        size = " x ".join(str(size) for size in row["image_shape"])
        growth = round(row["rss_after_mb"] - row["rss_after_warmup_mb"], 1)
        lines.append(f"| {name} | {size} | {row['inferences']} | {row['rss_before_mb']} | {row['rss_after_warmup_mb']} "
                     f"| {row['rss_after_mb']} | {growth} | {row['slope_kib_per_inference']} "
                     f"| {row['seconds_per_inference']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def add_memory_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inferences", type=int, default=100, help="consecutive inferences per bundle")
    parser.add_argument("--images", type=int, default=10, help="images in the folder the evaluator re-runs over")
    parser.add_argument("--bundles", nargs="+", default=list(MEMORY_BUNDLES), choices=list(MEMORY_BUNDLES))


# ---------------------------------------------------------------------------------------------
# section "fpf": seed 004's feature pyramid fusion against plain Mask R-CNN on held-out phantoms

FPF_BUNDLE = REPO_ROOT / "bundles" / "cells_fpf_2d"
_ONE_CHANNEL_RCNN = {"_target_": "cellbundles.networks.ReducedMaskRCNN", "widths": "@widths",
                     "fpn_channels": "@fpn_channels", "mask_head_channels": "@mask_head_channels",
                     "num_classes": 2, "detections_per_img": "@detections_per_img"}  # fmt: skip
FPF_VARIANTS: dict[str, tuple[str, dict]] = {
    "plain": ("Mask R-CNN, cell channel only (Fig 3a)", {
        "network_def": {**_ONE_CHANNEL_RCNN, "in_channels": 1},
        "channel_transforms": [{"_target_": "Lambdad", "keys": "image",
                                "func": "$lambda image: image[@cell_channel : @cell_channel + 1]"}],
        "load_nucleus_pyramid": False,  # no frozen nucleus pyramid in this model
    }),
    "two_channel": ("Mask R-CNN, nucleus as 2nd input channel (Fig 3b)", {
        "network_def": {**_ONE_CHANNEL_RCNN, "in_channels": 2, "image_mean": [0.5, 0.5], "image_std": [0.5, 0.5]},
        "load_nucleus_pyramid": False,  # no frozen nucleus pyramid in this model
    }),
    "fpf_add": ("FPF, addition (Fig 3c)", {"fusion": "add"}),
    "fpf_concat": ("FPF, concatenation (Fig 3c)", {"fusion": "concat"}),
    "fpf_add_lateral": ("FPF, addition at the lateral connections (Fig 2)", {"fusion": "add", "fusion_site": "lateral"}),
    "fpf_concat_lateral": ("FPF, concatenation at the lateral connections (Fig 2)",
                           {"fusion": "concat", "fusion_site": "lateral"}),
}  # fmt: skip
"""Benchmark variant (its run folder) -> (label, overrides of the bundle's ``train.json``, also under ``evaluate.json``)."""


def _train_once(run: Path, configs: list[str], overrides: dict, epochs: int, lr_drop_epoch: int) -> float:
    """Train into ``run`` unless ``run/timing.json`` says it was done; the training seconds."""
    timing = run / "timing.json"
    if not timing.exists():
        seconds = run_bundle(FPF_BUNDLE, configs, {**overrides, "ckpt_dir": str(run), "output_dir": str(run / "eval"),
                             "max_epochs": epochs, "lr_drop_epoch": lr_drop_epoch}, log_file=run / "train.log")  # fmt: skip
        _write_text(timing, json.dumps({"rc": 0, "train_seconds": round(seconds)}) + "\n")
    return float(json.loads(timing.read_text())["train_seconds"])


FPF_CLASSICAL = "classical baseline: nucleus-seeded watershed of the cell stain"


def fpf_classical_metrics(folder: Path, nucleus_diameter: float | None = None) -> dict[str, float]:
    """:func:`cellbundles.postprocess.classical_cells` on the test section of ``folder`` (phantoms written by
    ``evaluate.json``), with the bundle's channels, intensity percentiles, nucleus diameter (or ``nucleus_diameter``)
    and ``min_size``, scored by the metrics of ``evaluate.json``. The baseline has no scores (all 1), so its AP is that
    of one operating point."""
    import torch
    from monai.bundle import ConfigParser
    from monai.transforms import ScaleIntensityRangePercentiles

    from cellbundles.io import read_image
    from cellbundles.metrics import AveragePrecisionMetric, DSBScoreMetric, InstanceMatchingMetric
    from cellbundles.metrics.instance_iou import instance_boxes
    from cellbundles.postprocess import classical_cells

    config = ConfigParser()
    config.read_config(str(FPF_BUNDLE / "configs" / "train.json"))
    lower, upper = config["intensity_percentiles"]
    scale = ScaleIntensityRangePercentiles(lower, upper, 0.0, 1.0, clip=True, channel_wise=True)
    thresholds = config.get_parsed_content("ap_iou_thresholds")
    ap = {"test_mask_ap": AveragePrecisionMetric("segm", iou_thresholds=thresholds),
          "test_mask_ap50": AveragePrecisionMetric("segm", metric_name="ap50"),
          "test_box_ap": AveragePrecisionMetric("bbox", iou_thresholds=thresholds)}  # fmt: skip
    labelled = {"test_accuracy_iou0.5": InstanceMatchingMetric(thresh=0.5, metric_name="accuracy"),
                "test_dsb_score": DSBScoreMetric()}  # fmt: skip
    for item in json.loads((folder / "datalist.json").read_text())["test"]:
        image = np.asarray(scale(read_image(folder / item["image"])[0].astype(np.float32)))
        cells = classical_cells(image[config["nucleus_channel"]], image[config["cell_channel"]],
                                nucleus_diameter or config["nucleus_diameter"], min_size=config["min_size"])  # fmt: skip
        truth, ones = read_image(folder / item["label"])[0][None], np.ones(int(cells.max()))
        for name, metric in ap.items():
            metric([instance_boxes(cells)[1] if "box" in name else cells[None]], [ones], [truth])
        for metric in labelled.values():
            metric(y_pred=torch.as_tensor(cells[None, None]), y=torch.as_tensor(truth[None].astype(np.int32)))
    return {name: round(float(metric.aggregate()), 4) for name, metric in {**ap, **labelled}.items()}


def fpf_section(args: argparse.Namespace) -> tuple[dict, str]:
    """cells_fpf_2d: plain Mask R-CNN, nucleus as 2nd channel, FPF add / concat on held-out clustered phantoms."""
    work = args.work
    epochs, n_train, n_test = (1, 4, 3) if args.quick else (args.epochs, 240, args.test_images)
    phantoms = {"phantoms#contact_dimming": args.contact_dimming}
    min_score = json.loads((FPF_BUNDLE / "configs" / "train.json").read_text())["min_score"]
    train = {"dataset_dir": str(work / "train"), "phantoms#n": n_train, "phantoms#val_fraction": 0.1,
             "warm_start": args.warm_start, "seed": args.seed, **phantoms}  # fmt: skip
    test_sets = {  # test set -> overrides of evaluate.json's held-out phantoms (clustering 1.0, 16 cells, seed 2)
        "clustered": {"phantoms#n": n_test + 1, **phantoms},
        "training settings": {"phantoms#n": n_test + 1, "phantoms#seed": 3, "phantoms#clustering": 0.85,
                              "phantoms#n_cells": 14, **phantoms},
    }
    if args.quick:
        train.update({"phantoms#shape": [128, 128], "phantoms#n_cells": 5, "epoch_length": 2})
        for overrides in test_sets.values():
            overrides.update({"phantoms#shape": [128, 128], "phantoms#n_cells": 5})
    nucleus_run = work / "runs" / "nucleus"
    nucleus_epochs = 1 if args.quick else args.nucleus_epochs
    nucleus_seconds = 0.0
    if args.warm_start or any("fusion" in FPF_VARIANTS[name][1] for name in args.variants):  # stage 1 where used
        nucleus_seconds = _train_once(nucleus_run, ["train.json", "train_nucleus.json"], train, nucleus_epochs,
                                      nucleus_epochs - 1)  # fmt: skip
    rows = {}
    for name in args.variants:
        label, variant = FPF_VARIANTS[name]
        overrides = {**train, **variant, "nucleus_weights": str(nucleus_run / "model.pt")}
        run = work / "runs" / name
        seconds = _train_once(run, ["train.json"], overrides, epochs, max(epochs - 1, 1))
        row = {"train_minutes": round(seconds / 60, 1)}
        if "fusion" in variant or args.warm_start:
            row["train_minutes_with_stage_1"] = round((seconds + nucleus_seconds) / 60, 1)
        evaluation = {key: value for key, value in overrides.items() if not key.startswith("phantoms#")}  # own phantoms
        for test_name, test in test_sets.items():
            two_channels = "channel_transforms" not in variant  # the rules read the nucleus stain
            for rules in (False, True) if test_name == "clustered" and two_channels else (False,):
                folder = test_name.replace(" ", "_")
                output = work / "eval" / f"{name}_{folder}_rules{int(rules)}_score{min_score}"  # cache per operating point
                if not (output / "metrics.json").exists():
                    run_bundle(FPF_BUNDLE, ["train.json", "evaluate.json"],
                               {**evaluation, **test, "dataset_dir": str(work / folder), "ckpt_dir": str(run),
                                "output_dir": str(output), "phantoms#test_fraction": n_test / (n_test + 1),
                                "cell_rules": rules}, log_file=output.parent / f"{output.name}.log")  # fmt: skip
                metrics = json.loads((output / "metrics.json").read_text())["metrics"]
                row[f"{test_name}, rules {'on' if rules else 'off'}"] = {k: round(float(v), 4) for k, v in metrics.items()}
        rows[label] = row
    rows[FPF_CLASSICAL] = {"train_minutes": 0.0, **{f"{test_name}, rules off": fpf_classical_metrics(
        work / test_name.replace(" ", "_")) for test_name in test_sets}}  # fmt: skip
    results = {"quick": args.quick, "epochs": epochs, "nucleus_epochs": nucleus_epochs, "warm_start": args.warm_start,
               "seed": args.seed, "nucleus_train_minutes": round(nucleus_seconds / 60, 1),
               "min_score": min_score,
               "contact_dimming": args.contact_dimming,
               "variants": rows}  # fmt: skip
    return results, _fpf_markdown(results)


def _fpf_markdown(results: dict) -> str:
    baseline = results["variants"].get(FPF_VARIANTS["plain"][0], {})
    start, stage_1 = "trained from scratch", "the FPF variants reuse"
    if results.get("warm_start"):  # the seed's protocol: one pre-trained backbone for every variant
        start = "initialised with the stage-1 nucleus model's weights (`--warm-start`, `warm_start` true) and trained"
        stage_1 = "every variant starts from and the FPF variants fuse"
    lines = [
        "Seed 004 (Korfhage et al., PLoS Comput Biol 2020), Tables 6-7: cell detection and segmentation on clustered",
        "cells, with and without the nucleus. Here on `cellbundles.synth` cells2d phantoms (256 x 256, nucleus + cell",
        f"stain; the cytoplasm stain drops by {results.get('contact_dimming', 0.3) * 100:.0f} % on borders between touching cells,",
        f"`contact_dimming`), every cell model {start} by `train.json` of `bundles/cells_fpf_2d` with the overrides of",
        "`FPF_VARIANTS` in `scripts/benchmark.py`, for the same number of epochs on the same 216 training phantoms",
        f"({results['epochs']} epochs, seed {results.get('seed', 0)}; {stage_1} one stage-1 nucleus model, "
        f"{results['nucleus_epochs']} epochs,",
        f"{results['nucleus_train_minutes']} min). AP: COCO 101-point, averaged over IoU 0.50:0.05:0.90 (the seed's mean AP),",
        f"on the bundle's output (painted instances, detections scoring >= `min_score` {results['min_score']}). \"clustered\":",
        "unseen phantoms with every cell placed against another (clustering 1.0, 16 cells); \"training settings\": unseen",
        "phantoms drawn like the training set. Rules: the seed's post-processing (`cell_rules`, needs the nucleus stain, so",
        "not for the cell-only model); relative mask AP against the cell-only model without rules, as in the seed. The",
        "classical baseline (`cellbundles.postprocess.classical_cells`: classical nuclei seed a watershed of the",
        "Otsu-thresholded cell stain, the bundle's nucleus diameter) needs no training and gives no scores, so its AP is",
        "that of one operating point. Training minutes on one shared CPU thread.",
        "",
        "| model | test set | rules | mask AP | rel. to cell-only | box AP | mask AP50 | accuracy@0.5 | DSB score | train min |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in results["variants"].items():
        minutes = row.get("train_minutes_with_stage_1", row["train_minutes"])
        for key, metrics in row.items():
            if not isinstance(metrics, dict):
                continue
            test_set, rules = key.split(", rules ")
            reference = baseline.get(f"{test_set}, rules off", {}).get("test_mask_ap", 0.0)
            relative = f"{metrics['test_mask_ap'] / reference - 1:+.1%}" if reference else "n/a"
            lines.append(f"| {name} | {test_set} | {rules} | {metrics['test_mask_ap']:.3f} | {relative} | "
                         f"{metrics['test_box_ap']:.3f} | {metrics['test_mask_ap50']:.3f} | "
                         f"{metrics['test_accuracy_iou0.5']:.3f} | {metrics['test_dsb_score']:.3f} | {minutes} |")  # fmt: skip
    lines += ["", f"Train minutes of the {'' if results.get('warm_start') else 'FPF '}rows include the stage-1 nucleus model.", ""]
    return "\n".join(lines)


def add_fpf_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "outputs" / "fpf",
                        help="phantoms, training runs and evaluations (reused when their timing.json / metrics.json exists)")  # fmt: skip
    parser.add_argument("--variants", nargs="+", default=list(FPF_VARIANTS), choices=list(FPF_VARIANTS),
                        help="plain: cell channel only; two_channel: nucleus as 2nd input; fpf_*: fusion of the stage-1 "
                             "nucleus pyramid at the outputs or the lateral connections")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=5, help="training epochs of every cell model (lr x0.1 for the last)")
    parser.add_argument("--nucleus-epochs", type=int, default=6, help="epochs of the stage-1 nucleus model (lr x0.1 for the last)")
    parser.add_argument("--test-images", type=int, default=30, help="held-out phantoms per test set")
    parser.add_argument("--seed", type=int, default=0,
                        help="train.json seed (initial weights, crops); a stage-1 run already in --work is reused")  # fmt: skip
    parser.add_argument("--contact-dimming", type=float, default=0.3,
                        help="relative drop of the cytoplasm stain on borders between touching cells, in every phantom "
                             "(train.json phantoms#contact_dimming; 0: touching cells show no border)")  # fmt: skip
    parser.add_argument("--warm-start", action="store_true",
                        help="every cell model starts from the stage-1 nucleus model's weights (train.json warm_start)")  # fmt: skip


def _scaled_cell_sizes(factor: float) -> dict[str, list[float]]:
    """Cell and nucleus radius ranges of ``cells2d`` (the training phantoms use its defaults) times ``factor``."""
    from cellbundles.synth.cells import cells2d

    defaults = inspect.signature(cells2d).parameters
    return {key: [round(radius * factor, 2) for radius in defaults[key].default]
            for key in ("cell_radius_range", "nucleus_radius_range")}  # fmt: skip


FPF_SHIFTS = {
    "training settings": {},
    "fewer photons (30 instead of 300)": {"poisson_photons": 30.0},
    "read noise x5 (std 0.05)": {"gaussian_noise_std": 0.05},
    "blur (PSF sigma 2.5 px instead of 1)": {"psf_sigma": 2.5},
    "cells x0.7": {**_scaled_cell_sizes(0.7), "n_cells": 28},
    "cells x1.4": {**_scaled_cell_sizes(1.4), "n_cells": 7},
    "crowded (24 cells, all clustered)": {"n_cells": 24, "clustering": 1.0},
}  # fmt: skip
"""Test set -> ``cells2d`` options changed from the training phantoms of ``cells_fpf_2d``'s ``train.json``."""

FPF_SHIFT_SEED = 40
"""Base seed of the shifted test sets (training phantoms use seed 1, ``evaluate.json``'s 2, the fpf benchmark's 3)."""


def _median_cell_diameter(folder: Path) -> float:
    """Median over the test images of ``folder`` of their cells' median equivalent-disc diameter, pixels."""
    from cellbundles.io import read_image
    from cellbundles.postprocess import median_diameter_um

    items = json.loads((folder / "datalist.json").read_text())["test"]
    return float(np.median([median_diameter_um(read_image(folder / item["label"])[0].astype(np.int32)) for item in items]))


def fpf_shift_section(args: argparse.Namespace) -> tuple[dict, str]:
    """cells_fpf_2d shipped weights vs the classical baseline on phantoms unlike its training phantoms."""
    from cellbundles.synth.dataset import write_dataset

    work, n_test = args.work, (2 if args.quick else args.test_images)
    config = json.loads((FPF_BUNDLE / "configs" / "train.json").read_text())
    training = config["phantoms"]
    base = {key: training[key] for key in ("shape", "n_cells", "clustering", "p_two_nuclei", "p_no_nucleus",
                                           "nucleus_offset", "contact_dimming")}  # fmt: skip
    if args.quick:
        base.update({"shape": [128, 128], "n_cells": 5})
    rows = {}
    for index, (name, options) in enumerate(FPF_SHIFTS.items()):
        folder = work / f"set{index}"
        settings = {**base, **options, **({"n_cells": base["n_cells"]} if args.quick else {})}
        write_dataset(folder, "cells2d", n_test + 1, seed=FPF_SHIFT_SEED + index, val_fraction=0.0,
                      test_fraction=n_test / (n_test + 1), overwrite=False, **settings)  # fmt: skip
        diameter = round(_median_cell_diameter(folder), 1)
        row = {"options": options, "images": n_test, "median_cell_diameter_px": diameter}
        for method, given in (("network", {}), ("network_given_diameter", {"cell_diameter_px": diameter})):
            output = work / "eval" / f"set{index}_{method}"
            if not (output / "metrics.json").exists():
                run_bundle(FPF_BUNDLE, ["train.json", "evaluate.json"],
                           {"data_source": "datalist", "datalist": str(folder / "datalist.json"),
                            "dataset_dir": str(folder), "output_dir": str(output), **given},
                           log_file=output.parent / f"{output.name}.log")  # fmt: skip
            metrics = json.loads((output / "metrics.json").read_text())["metrics"]
            row[method] = {key: round(float(value), 4) for key, value in metrics.items()}
        row["classical"] = fpf_classical_metrics(folder)
        scaled_nucleus = config["nucleus_diameter"] * diameter / config["training_cell_diameter_px"]
        row["classical_given_diameter"] = fpf_classical_metrics(folder, scaled_nucleus)
        rows[name] = row
    return {"quick": args.quick, "seed": FPF_SHIFT_SEED, "base": base, "sets": rows}, _fpf_shift_markdown(rows, base)


FPF_SHIFT_METHODS = {
    "network": "network",
    "network_given_diameter": "network, given D",
    "classical": "baseline",
    "classical_given_diameter": "baseline, given D",
}
"""Methods of the fpf_shift report: the bundle's defaults and both told the cells' diameter D."""


def _fpf_shift_markdown(rows: dict, base: dict) -> str:
    metrics = {"test_accuracy_iou0.5": "accuracy@0.5", "test_mask_ap": "mask AP", "test_dsb_score": "DSB score"}
    header = " | ".join(f"{metric}: {method}" for metric in metrics.values() for method in FPF_SHIFT_METHODS.values())
    lines = [
        "The shipped `cells_fpf_2d` (FPF-add Mask R-CNN, `evaluate.json`) and the classical baseline of",
        "`scripts/benchmark.py fpf` (classical nuclei seed a watershed of the Otsu-thresholded cell stain) on",
        "`cellbundles.synth` cells2d phantoms drawn like the bundle's training phantoms",
        f"({json.dumps(base)}) with one setting changed at a time, seeds never used in training. Each method by default",
        "(the image's own scale; the baseline with the bundle's `nucleus_diameter`) and told the median cell diameter D",
        "of the set's annotations (`--cell_diameter_px D`: the image is resized so that its cells have the training",
        "phantoms' `training_cell_diameter_px`; the baseline's nucleus diameter scaled by the same ratio). AP: COCO",
        "101-point over IoU 0.50:0.05:0.90; the baseline gives no scores, so its AP is that of one operating point.",
        "",
        f"| test set | images | D (px) | {header} |",
        "| --- | ---: | ---: |" + " ---: |" * (len(metrics) * len(FPF_SHIFT_METHODS)),
    ]
    losses = []
    for name, row in rows.items():
        cells = [f"{row[method][metric]:.3f}" for metric in metrics for method in FPF_SHIFT_METHODS]
        lines.append(f"| {name} | {row['images']} | {row['median_cell_diameter_px']:.1f} | " + " | ".join(cells) + " |")
        for network, classical in (("network", "classical"), ("network_given_diameter", "classical_given_diameter")):
            lost = [label for metric, label in metrics.items() if row[network][metric] < row[classical][metric]]
            if lost:
                losses.append(f"{name} ({FPF_SHIFT_METHODS[network]}: {', '.join(lost)})")
    lines += ["", "Where the network is below the classical baseline given the same size information: "
              + ("; ".join(losses) if losses else "nowhere") + ".", ""]  # fmt: skip
    return "\n".join(lines)


def add_fpf_shift_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "outputs" / "fpf_shift",
                        help="phantoms and evaluations (reused when their metrics.json exists)")  # fmt: skip
    parser.add_argument("--test-images", type=int, default=20, help="phantoms per test set")


# ---------------------------------------------------------------------------------------------
# section "recyclegan": seed 001's proof, M1 trained on GAN pairs vs on the same phantoms without the GAN

SHAPE_BUNDLE = REPO_ROOT / "bundles" / "nuclei_shape_3d"
RECYCLEGAN_BUNDLE = REPO_ROOT / "bundles" / "nuclei_recyclegan_3d"
SHAPE_ARMS = {"gan": "M1 trained on GAN pairs", "raw": "M1 trained on raw phantoms (no GAN)"}
#: method -> (label, bundle, configs); the shape arms read their weights from ``<work>/runs/<method>``
RECYCLEGAN_METHODS = {
    **{arm: (label, SHAPE_BUNDLE, ["inference.json"]) for arm, label in SHAPE_ARMS.items()},
    "shape": ("nuclei_shape_3d (shipped)", SHAPE_BUNDLE, ["inference.json"]),
    "baseline": ("classical baseline (nuclei_segdet_3d baseline.json)", SEGDET_BUNDLE, ["inference.json", "baseline.json"]),
    "segdet": ("nuclei_segdet_3d (shipped)", SEGDET_BUNDLE, ["inference.json"]),
}
#: real annotated data: name -> (folder below data/samples or --dataset_dir, voxel size for files without one,
#: volume-name prefixes kept (None: all), how the methods saw it)
RECYCLEGAN_REAL_SETS = {
    "BBBC050 Emb10, Emb11 (10 volumes)": ("bbbc050_mouse_embryo_3d", None, ("Emb10", "Emb11"),
                                          "images trained the GAN; held out of nuclei_segdet_3d"),
    "QCANet embryo 8_cell_stage": ("qcanet_mouse_embryo_3d", (1.75, 0.8, 0.8), None, "held out of all training"),
    "GoNuclear ovule 1135": ("gonuclear_ovule_3d", None, None, "its low-x half fine-tuned nuclei_segdet_3d"),
}  # fmt: skip
SHAPE_SCORE_KEYS = ("instance_f1", "object_precision", "object_recall", "object_f1", "dice", "count_error")


def shape_scores(labels: np.ndarray, instances: np.ndarray, spacing: tuple[float, ...]) -> dict:
    """:func:`volume_scores` and the seed's object P / R / F1 (>= 50 % of the true nucleus covered, predicted
    objects under 50 voxels removed)."""
    from cellbundles.metrics import object_overlap_prf

    objects = object_overlap_prf(labels.astype(np.int64), instances.astype(np.int64), 0.5, 50)
    return {**volume_scores(labels, instances, spacing), "object_precision": float(objects.precision),
            "object_recall": float(objects.recall), "object_f1": float(objects.f1)}  # fmt: skip


def _recyclegan_data(args: argparse.Namespace, work: Path) -> dict[str, tuple[Path, tuple | None, str]]:
    """Name -> (dataset folder in the canonical layout, voxel size for files without one, provenance); a subset of
    volumes is linked into ``work/real/``."""
    roots = [args.dataset_dir] if args.dataset_dir else []
    datasets = {}
    for name, (folder, spacing, prefixes, provenance) in RECYCLEGAN_REAL_SETS.items():
        source = next((root / folder for root in [*roots, REPO_ROOT / "data" / "samples"] if (root / folder / "labels").is_dir()), None)
        if source is None:
            continue
        if prefixes is not None:
            subset = work / "real" / name.split()[0] / "_".join(prefixes)
            for sub in ("images", "labels"):
                (subset / sub).mkdir(parents=True, exist_ok=True)
                for path in sorted((source / sub).iterdir()):
                    if path.name.startswith(prefixes) and not (subset / sub / path.name).exists():
                        (subset / sub / path.name).symlink_to(path.resolve())
            source = subset
        datasets[name] = (source, spacing, provenance)
    return datasets


def _train_shape_arm(args: argparse.Namespace, arm: str, dataset_dir: Path) -> dict:
    """Train M1 / M2 of one arm into ``work/runs/<arm>`` unless its ``timing.json`` exists; minutes and iterations."""
    import torch

    run = args.work / "runs" / arm
    timing = run / "timing.json"
    if not timing.exists():
        overrides = {"dataset_dir": str(dataset_dir), "ckpt_dir": str(run), "output_dir": str(run / "eval"),
                     "time_limit_minutes": args.train_minutes, "max_epochs": args.max_epochs, "epoch_length": 25,
                     "val_interval": 4, **args.shape_train_overrides}  # fmt: skip
        if args.quick:
            overrides.update({"max_epochs": 1, "epoch_length": 2, "val_interval": 1, "features": [2] * 6})
        seconds = run_bundle(SHAPE_BUNDLE, ["train.json"], overrides, log_file=run / "train.log")
        last = max(run.glob("checkpoint_epoch=*.pt"), key=os.path.getmtime)
        iterations = torch.load(last, map_location="cpu", weights_only=False)["trainer"]["iteration"]
        _write_text(timing, json.dumps({"train_seconds": round(seconds), "iterations": int(iterations)}) + "\n")
    done = json.loads(timing.read_text())
    return {"train_minutes": round(done["train_seconds"] / 60, 1), "iterations": done["iterations"]}


def _normalised_intensities(path: Path) -> np.ndarray:
    """A volume's voxels scaled to [0, 1] between its 1st and 99.8th percentiles (what the networks see)."""
    from cellbundles.io import read_image

    volume = read_image(path)[0].astype(np.float64)
    low, high = np.percentile(volume, [1.0, 99.8])
    return np.clip((volume - low) / max(high - low, 1e-12), 0.0, 1.0)


def intensity_distances(real: list[Path], generated: list[Path], bins: int = 64) -> dict:
    """Wasserstein-1 and Jensen-Shannon distances between the pooled normalised intensity histograms of two sets."""
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance

    edges = np.linspace(0.0, 1.0, bins + 1)
    histograms = [sum(np.histogram(_normalised_intensities(p), edges)[0] for p in paths).astype(np.float64) for paths in (real, generated)]
    centres = (edges[:-1] + edges[1:]) / 2
    return {"wasserstein": round(float(wasserstein_distance(centres, centres, *histograms)), 4),
            "jensen_shannon": round(float(jensenshannon(*histograms, base=2)), 4)}  # fmt: skip


def draw_real_vs_generated(rows: dict[str, list[Path]], path: Path) -> None:
    """The middle xy slice of a few volumes of each set, one row per set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max(len(paths) for paths in rows.values())
    figure, axes = plt.subplots(len(rows), columns, figsize=(2.6 * columns, 2.8 * len(rows)), squeeze=False)
    for row, (name, paths) in enumerate(rows.items()):
        for column in range(columns):
            axis = axes[row, column]
            axis.axis("off")
            if column < len(paths):
                volume = _normalised_intensities(paths[column])
                axis.imshow(volume[volume.shape[0] // 2], cmap="gray", vmin=0, vmax=1)
                axis.set_title(f"{name}\n{paths[column].stem}" if column == 0 else paths[column].stem, fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def recyclegan_section(args: argparse.Namespace) -> tuple[dict, str]:
    """Seed 001's proof: M1 trained on GAN pairs vs raw phantoms on real annotated volumes, beside the baseline and segdet."""
    from cellbundles.transforms import write_raw_pairs

    work = args.work
    gan = work / "gan"
    if not (gan / "pairs" / "datalist.json").exists():
        n = 2 if args.quick else args.pair_volumes
        overrides = {"output_dir": str(gan), "n_samples": n, **args.pair_overrides}
        run_bundle(RECYCLEGAN_BUNDLE, ["inference.json"], overrides, log_file=work / "gan.log")
    if not (work / "raw_pairs" / "datalist.json").exists():  # the seam the GAN pairs were made with, as M1 trains on it
        pair_config = {**json.loads((RECYCLEGAN_BUNDLE / "configs" / "inference.json").read_text()), **args.pair_overrides}
        write_raw_pairs(gan / "pairs", work / "raw_pairs", gap_width=pair_config["gap_width"])
    training = {}
    if not args.skip_training:
        arms = [arm for arm in SHAPE_ARMS if arm in args.methods]
        training = {arm: _train_shape_arm(args, arm, gan / "pairs" if arm == "gan" else work / "raw_pairs") for arm in arms}
    methods = [m for m in args.methods if m not in SHAPE_ARMS or (work / "runs" / m / "model.pt").exists()]
    rows: dict = {}
    for name, (dataset, spacing, provenance) in _recyclegan_data(args, work).items():
        row = {"provenance": provenance, "volumes": len(list((dataset / "labels").iterdir()))}
        for method in methods:
            label, bundle, configs = RECYCLEGAN_METHODS[method]
            output = work / "eval" / method / "".join(c if c.isalnum() else "_" for c in name)
            if not (output / "summary.json").exists():
                overrides = {"dataset_dir": str(dataset / "images"), "output_dir": str(output)}
                if spacing is not None:
                    overrides["input_spacing"] = list(spacing)
                if method in SHAPE_ARMS:
                    overrides.update(ckpt_dir=str(work / "runs" / method), **args.shape_inference_overrides)
                    if args.quick:
                        overrides["features"] = [2] * 6
                run_bundle(bundle, configs, overrides, log_file=output.with_suffix(".log"))
            seconds = json.loads((output / "summary.json").read_text())["total_seconds"]
            row[label] = {**_aggregate(_score_folder(dataset, output, shape_scores, spacing), SHAPE_SCORE_KEYS), "seconds": seconds}
            print(f"{name} / {label}: {row[label]['mean']}", flush=True)
        rows[name] = row
    if args.real_volumes is not None:
        folder = args.real_volumes.resolve()
        real, real_name = sorted(folder.glob("*.tif")), f"real ({folder.parent.name if folder.name == 'images' else folder.name})"
    elif args.dataset_dir:
        real, real_name = sorted((args.dataset_dir / "bbbc050_mouse_embryo_3d" / "images").glob("*.tif")), "real (BBBC050)"
    else:
        real, real_name = sorted((REPO_ROOT / "data" / "samples" / "qcanet_mouse_embryo_3d" / "images").glob("*.tif")), "real"
    synthetic = sorted((gan / "pairs" / "images").glob("*.tif"))  # the same crops in both sets
    raw = [work / "raw_pairs" / "images" / path.name for path in synthetic]
    distances = {"GAN pairs (I_syn)": intensity_distances(real, synthetic), "raw phantoms (the same crops)": intensity_distances(real, raw)}
    figure = f"{args.report_name}_real_vs_generated.png"
    figure_dir = (args.output_dir or (QUICK_OUTPUT_DIR if args.quick else FULL_OUTPUT_DIR)).parent / "figures"
    draw_real_vs_generated({real_name: real[::max(1, len(real) // 4)][:4],
                            "GAN I_syn": synthetic[:16:4], "raw phantom": raw[:16:4]}, figure_dir / figure)  # fmt: skip
    labels = {method: RECYCLEGAN_METHODS[method][0] for method in methods}
    results = {"quick": args.quick, "training": {SHAPE_ARMS[arm]: value for arm, value in training.items()},
               "methods": labels, "rows": rows, "intensity_distance_to_real": distances,
               "real_volumes_for_distance": len(real), "real_set": real_name, "figure": figure,
               "overrides": {"pairs": args.pair_overrides, "shape_train": args.shape_train_overrides,
                             "shape_inference": args.shape_inference_overrides}}  # fmt: skip
    return results, _recyclegan_markdown(results)


def _recyclegan_markdown(results: dict) -> str:
    methods = list(results["methods"].values())
    gan, raw = SHAPE_ARMS["gan"], SHAPE_ARMS["raw"]
    lines = []
    if gan in methods and raw in methods:
        verdicts = []
        for name, row in results["rows"].items():
            f1_gan, f1_raw = row[gan]["mean"]["instance_f1"], row[raw]["mean"]["instance_f1"]
            best_other = max((row[m]["mean"]["instance_f1"], m) for m in methods if m not in (gan, raw))
            verdicts.append(f"- {name}: GAN-trained {f1_gan:.3f}, raw-phantom-trained {f1_raw:.3f} ({f1_gan - f1_raw:+.3f}; "
                            f"target >= 0.70 and >= +0.20: {'met' if f1_gan >= 0.7 and f1_gan - f1_raw >= 0.2 else 'not met'}); "
                            f"best other method {best_other[1]} {best_other[0]:.3f}")  # fmt: skip
        lines += ["## Result first: mean instance F1 at IoU 0.5 per volume", "", *verdicts, ""]
    lines += [
        "Seed 001 (Han et al., ISBI 2020) claims that segmentation networks trained on Recycle-GAN pairs beat the same",
        "networks trained on the phantoms themselves. Here M1 / M2 (`bundles/nuclei_shape_3d`, `train.json`, the same",
        "settings for both arms) are trained on (a) the pairs written by `nuclei_recyclegan_3d`'s `inference.json` with the",
        "generator G1 of its `ckpt_dir` (the shipped one unless the pairs' config values below name another), and (b) the",
        "same phantoms' I_binary blurred by the PSF (sigma 2 voxels) plus Gaussian noise",
        "(std 0.05), i.e. the GAN's input without the GAN (`cellbundles.transforms.write_raw_pairs`). Every method runs as a",
        "user runs it (`inference.json`, nucleus diameter estimated: `--nucleus_diameter_um auto`), annotations are used for",
        "scoring only. Instance F1 at IoU 0.5; the seed's object P / R / F1 (a prediction covering >= 50 % of its true",
        "nucleus, predicted objects under 50 voxels removed); Dice of the foreground; count error |N_pred - N_true| / N_true.",
        "Each cell: mean over the volumes / the worst volume (lowest instance F1).",
        "",
    ]
    changed = {name: values for name, values in results.get("overrides", {}).items() if values}
    if changed:
        lines += ["Config values other than the bundles' defaults: "
                  + "; ".join(f"{name} `{json.dumps(values)}`" for name, values in changed.items()) + ".", ""]  # fmt: skip
    if results["training"]:
        lines += ["| training | minutes (one CPU thread) | iterations (2 patches of 32 x 64 x 64 each) |", "| --- | ---: | ---: |"]
        lines += [f"| {arm} | {value['train_minutes']} | {value['iterations']} |" for arm, value in results["training"].items()]
        lines.append("")
    keys = SHAPE_SCORE_KEYS
    lines += ["| data | volumes | provenance | method | " + " | ".join(keys) + " | seconds |",
              "| --- | ---: | --- | --- | " + " | ".join("---:" for _ in keys) + " | ---: |"]  # fmt: skip
    for name, row in results["rows"].items():
        for method in methods:
            mean, worst = row[method]["mean"], row[method]["worst"]
            cells = " | ".join(f"{mean[k]:.3f} / {worst[k]:.3f}" for k in keys)
            lines.append(f"| {name} | {row['volumes']} | {row['provenance']} | {method} | {cells} | {row[method]['seconds']:.0f} |")
    lines += ["", f"Intensity distance to the real volumes ({results['real_set']}: {results['real_volumes_for_distance']} volumes; pooled histograms of the",
              "voxels scaled to [0, 1] between each volume's 1st and 99.8th percentiles, 64 bins; lower is closer):", "",
              "| generated set | Wasserstein-1 | Jensen-Shannon |", "| --- | ---: | ---: |"]  # fmt: skip
    lines += [f"| {name} | {d['wasserstein']:.4f} | {d['jensen_shannon']:.4f} |" for name, d in results["intensity_distance_to_real"].items()]
    lines += ["", f"![real vs generated slices](../figures/{results['figure']})", ""]
    return "\n".join(lines)


def add_recyclegan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "outputs" / "shape3d",
                        help="pairs, training runs (reused when their timing.json exists) and outputs (reused)")  # fmt: skip
    parser.add_argument("--dataset_dir", type=Path, default=None,
                        help="folder holding bbbc050_mouse_embryo_3d, qcanet_mouse_embryo_3d, gonuclear_ovule_3d (default: data/samples)")  # fmt: skip
    parser.add_argument("--pair-volumes", type=int, default=20, help="phantom volumes translated by G1 (4 pairs each)")
    parser.add_argument("--real-volumes", type=Path, default=None,
                        help="folder of the real volumes the GAN learnt from, for the figure and the intensity distance "
                             "(default: the BBBC050 images of --dataset_dir, else the vendored QCANet embryo)")  # fmt: skip
    parser.add_argument("--train-minutes", type=int, default=15, help="time limit of each training")
    parser.add_argument("--max-epochs", type=int, default=30, help="epochs of 25 iterations (the cosine schedule's length)")
    parser.add_argument("--skip-training", action="store_true", help="evaluate only (the arms already trained are used)")
    parser.add_argument("--methods", nargs="+", default=list(RECYCLEGAN_METHODS), choices=list(RECYCLEGAN_METHODS))
    for name, config in (("pair", "nuclei_recyclegan_3d inference.json (the pairs)"),
                         ("shape-train", "nuclei_shape_3d train.json (both arms)"),
                         ("shape-inference", "nuclei_shape_3d inference.json (both arms)")):  # fmt: skip
        parser.add_argument(f"--{name}-overrides", type=json.loads, default={}, metavar="JSON",
                            help=f"config values of {config} other than its defaults, e.g. '{{\"gap_width\": 1}}'")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# entry point

AddArguments = Callable[[argparse.ArgumentParser], None]
RunSection = Callable[[argparse.Namespace], tuple[dict, str]]

#: section name -> (adds its arguments, runs it and returns (results, markdown body))
SECTIONS: dict[str, tuple[AddArguments, RunSection]] = {
    "metrics": (add_metrics_arguments, metrics_section),
    "segdet": (add_segdet_arguments, segdet_section),
    "robustness": (add_robustness_arguments, robustness_section),
    "memory": (add_memory_arguments, memory_section),
    "fpf": (add_fpf_arguments, fpf_section),
    "fpf_shift": (add_fpf_shift_arguments, fpf_shift_section),
    "recyclegan": (add_recyclegan_arguments, recyclegan_section),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="section", required=True)
    for name, (add_arguments, run) in SECTIONS.items():
        sub = subparsers.add_parser(name, help=run.__doc__.splitlines()[0])
        sub.add_argument("--quick", action="store_true", help="small sizes (smoke test); writes to outputs/benchmarks")
        sub.add_argument("--output-dir", type=Path, default=None, help="where to write <report-name>.json and .md")
        sub.add_argument("--report-name", default=name, help="file name of the report (default: the section's name)")
        add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    output_dir = args.output_dir or (QUICK_OUTPUT_DIR if args.quick else FULL_OUTPUT_DIR)
    _, run = SECTIONS[args.section]
    results, markdown_body = run(args)
    command = f"python scripts/benchmark.py {shlex.join(argv)}"
    for path in write_report(args.report_name, {**results, "command": command}, markdown_body, output_dir, command):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
