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
from cellbundles.data.samples import DSB_HELD_OUT_IMAGES, QCANET_SPACING, SAMPLES_DIR

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "bundles" / "nuclei_segdet_3d"
BUNDLES_2D = ("nuclei_resunet_2d", "nuclei_semantic_2d")
DSB = SAMPLES_DIR / "dsb2018_stage1_train"
SAMPLES = (
    ("gonuclear_ovule_3d", SAMPLES_DIR / "gonuclear_ovule_3d/images", None),
    ("qcanet_mouse_embryo_3d", SAMPLES_DIR / "qcanet_mouse_embryo_3d/images", str(list(QCANET_SPACING))),
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


def run_2d_demo(output_dir: Path) -> None:
    """Both 2D bundles on held-out DSB2018 images; a figure with image, truth and each bundle's instances."""
    import shutil

    inputs = output_dir / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    for stem in DSB_HELD_OUT_IMAGES:
        shutil.copyfile(DSB / "images" / f"{stem}.png", inputs / f"{stem}.png")
    for bundle in BUNDLES_2D:
        run_bundle(REPO / "bundles" / bundle, ["inference.json"],
                   {"dataset_dir": str(inputs), "output_dir": str(output_dir / bundle)}, echo=True)  # fmt: skip
    draw_2d_figure(output_dir, output_dir.parent / "nuclei_2d_demo.png")


def draw_2d_figure(output_dir: Path, path: Path) -> None:
    """One row per DSB2018 test image: the image, its annotation and the instances of each 2D bundle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cellbundles.io import read_image
    from cellbundles.metrics import match_instances
    from cellbundles.visualize import label_colors

    columns = 2 + len(BUNDLES_2D)
    figure, axes = plt.subplots(len(DSB_HELD_OUT_IMAGES), columns, figsize=(3.6 * columns, 3.6 * len(DSB_HELD_OUT_IMAGES)))
    for row, stem in enumerate(DSB_HELD_OUT_IMAGES):
        image, _ = read_image(DSB / "images" / f"{stem}.png")
        truth, _ = read_image(DSB / "labels" / f"{stem}.png")
        panels = [(image[..., :3], "image (held out)"), (label_colors(truth), f"annotation: {int(truth.max())} nuclei")]
        for bundle in BUNDLES_2D:
            instances, _ = read_image(output_dir / bundle / f"{stem}_instances.tif")
            accuracy = match_instances(truth, instances, thresh=0.5).accuracy
            panels.append((label_colors(instances), f"{bundle}: {len(set(instances.flat)) - 1}, acc@0.5 {accuracy:.2f}"))
        for axis, (picture, title) in zip(axes[row], panels):
            axis.imshow(picture, interpolation="nearest")
            axis.set_title(title, fontsize=8)
            axis.axis("off")
    figure.suptitle("nuclei_resunet_2d (seed 002) and nuclei_semantic_2d (seed 003, U-Net), shipped weights", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    print(f"wrote {path}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", type=Path, default=REPO / "outputs" / "demo")
    parser.add_argument("--mc_dropout_samples", type=int, default=20, help="Monte-Carlo dropout passes (0: off)")
    args = parser.parse_args(argv)
    for bundle in (BUNDLE.name, *BUNDLES_2D):
        weights = REPO / "bundles" / bundle / "models" / "model.pt"
        if not weights.exists():
            parser.error(f"{weights} is missing: the shipped weights are needed for the demo.")
    rows = []
    for name, dataset_dir, input_spacing in SAMPLES:
        output_dir = args.output_dir / name
        run_inference(dataset_dir, output_dir, input_spacing, args.mc_dropout_samples)
        rows.append((name, output_dir))
    draw_figure(rows, args.output_dir / "nuclei_segdet_3d_demo.png")
    run_2d_demo(args.output_dir / "dsb2018")
    return 0


if __name__ == "__main__":
    sys.exit(main())
