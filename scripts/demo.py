"""The README's demo: nuclei_segdet_3d inference on the vendored real 3D volumes, plus a figure.

Runs the bundle exactly as a user would (``python -m monai.bundle run --config_file
configs/inference.json ...``) with the shipped weights on

- the GoNuclear Arabidopsis ovule crop (voxel size read from the TIFF), and
- the QCANet mouse embryo volume (no voxel size in the file: 1.75 x 0.8 x 0.8 um, as the same lab's
  BBBC050 release states, is passed with ``--input_spacing``),

with 20 Monte-Carlo dropout passes for the per-nucleus uncertainty, then draws
``<output_dir>/nuclei_segdet_3d_demo.png``: maximum projections of each image, its instance labels,
and the detected centroids (magenta) over the instance outlines (yellow).

Usage::

    python scripts/demo.py --output_dir outputs/demo
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cellbundles.bundle_run import run_bundle

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "bundles" / "nuclei_segdet_3d"
SAMPLES = (
    ("gonuclear_ovule_3d", REPO / "data/samples/gonuclear_ovule_3d/images", None),
    ("qcanet_mouse_embryo_3d", REPO / "data/samples/qcanet_mouse_embryo_3d/images", "[1.75, 0.8, 0.8]"),
)


def run_inference(dataset_dir: Path, output_dir: Path, input_spacing: str | None, mc_samples: int) -> None:
    """Run the bundle's inference.json on every image of ``dataset_dir`` into ``output_dir``."""
    overrides = {"dataset_dir": str(dataset_dir), "output_dir": str(output_dir), "mc_dropout_samples": mc_samples}
    if input_spacing is not None:
        overrides["input_spacing"] = input_spacing
    run_bundle(BUNDLE, ["inference.json"], overrides, echo=True)


def draw_figure(rows: list[tuple[str, Path]], path: Path) -> None:
    """One row per sample: image, instances, centroids over outlines (maximum projections along z)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cellbundles.io import read_centroids_csv, read_image
    from cellbundles.visualize import label_colors, max_projection, overlay_projection, to_uint8

    figure, axes = plt.subplots(len(rows), 3, figsize=(12, 4.2 * len(rows)), squeeze=False)
    for row, (name, output_dir) in enumerate(rows):
        summary = json.loads((output_dir / "summary.json").read_text())
        record = summary["images"][0]
        image, spacing = read_image(record["image"])
        instances, _ = read_image(record["outputs"]["instances"])
        centroids = read_centroids_csv(record["outputs"]["centroids"])
        aspect = spacing[1] / spacing[2] if spacing else 1.0
        panels = (
            (to_uint8(max_projection(image)), "image (max projection)", "gray"),
            (label_colors(max_projection(instances)), f"{int(instances.max())} instances", None),
            (overlay_projection(image, instances, centroids), f"{len(centroids)} centroids, count {record['count']:.1f}", None),
        )  # fmt: skip
        for axis, (picture, title, cmap) in zip(axes[row], panels):
            axis.imshow(picture, cmap=cmap, aspect=aspect, interpolation="nearest")
            axis.set_title(f"{name}: {title}", fontsize=9)
            axis.axis("off")
    figure.suptitle("nuclei_segdet_3d (seed 000): segmentation + density detection, shipped weights", fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    print(f"wrote {path}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", type=Path, default=REPO / "outputs" / "demo")
    parser.add_argument("--mc_dropout_samples", type=int, default=20, help="Monte-Carlo dropout passes (0: off)")
    args = parser.parse_args(argv)
    if not (BUNDLE / "models" / "model.pt").exists():
        parser.error(f"{BUNDLE / 'models' / 'model.pt'} is missing: the shipped weights are needed for the demo.")
    rows = []
    for name, dataset_dir, input_spacing in SAMPLES:
        output_dir = args.output_dir / name
        run_inference(dataset_dir, output_dir, input_spacing, args.mc_dropout_samples)
        rows.append((name, output_dir))
    draw_figure(rows, args.output_dir / "nuclei_segdet_3d_demo.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
