"""Writing a bundle's per-input results with the output contract (docs/design.md, "Output contract").

Every input ``<dir>/<stem>.<ext>`` gives ``<output_dir>/<stem>_<kind>.<ext>`` files: label and
probability images as TIFF with the input's voxel size (NIfTI when the input is NIfTI), point
tables as CSV (voxel and micrometre coordinates), and an ``overlay.png`` quick look. Each file is
written atomically (temporary name, then rename), so an interrupted run leaves no partial file.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from pathlib import Path

import numpy as np
from monai.data import MetaTensor
from monai.transforms import MapTransform
from monai.utils import convert_to_numpy

from cellbundles.io import image_stem, write_centroids_csv, write_image
from cellbundles.utils import spacing_from_affine
from cellbundles.visualize import overlay_projection

__all__ = ["SaveOutputsd"]


class SaveOutputsd(MapTransform):
    """Write one decollated item's results into ``output_dir`` and record them under ``summary_key``.

    Args:
        output_dir: folder receiving the files (created if missing).
        images: output kind -> key of a ``(1, [D,] H, W)`` array on the input's grid (e.g.
            ``{"instances": "instances", "mask": "mask", "density": "density"}``).
        tables: output kind -> ``{"points": key of (N, D) voxel coordinates on the input's grid,
            "columns": {column name: key of an (N,) array}}``; a table whose keys are missing from
            the item (e.g. uncertainty without Monte-Carlo dropout) is skipped.
        ref_key: key of the loaded input (a MetaTensor with ``filename_or_obj`` and
            ``original_affine``), used for the file stem and the voxel size.
        overlay_image_key: key of the input image on its own grid for ``<stem>_overlay.png``
            (with outlines of ``images["instances"]`` and the first table's points); None: no overlay.
            The overlay is enlarged so that its shorter side has at least ``overlay_min_side`` pixels,
            with square physical pixels from the input's voxel size
            (:func:`cellbundles.visualize.overlay_projection`).
        scalars: summary field -> key of a number stored in the item (e.g. ``{"count": "count"}``).
        summary_key: key receiving ``{"image", "outputs", <scalars>, "n_<table>", "n_instances"}`` for
            :class:`cellbundles.engines.OutputSummaryHandler`.
        overlay_min_side: wanted pixels on the overlay's shorter side (small inputs are enlarged by
            whole factors, nearest neighbour); None: the input's own size.
        overlay_side_views: for a 3D input, add the maximum projections along y and x beside the
            one along z, z drawn at its voxel size.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        images: Mapping[str, str],
        tables: Mapping[str, Mapping] | None = None,
        ref_key: str = "image",
        overlay_image_key: str | None = None,
        scalars: Mapping[str, str] | None = None,
        summary_key: str = "summary",
        overlay_min_side: int | None = 512,
        overlay_side_views: bool = True,
    ) -> None:
        super().__init__([ref_key, *images.values()], allow_missing_keys=True)
        self.output_dir = Path(output_dir)
        self.images = dict(images)
        self.tables = dict(tables or {})
        self.ref_key = ref_key
        self.overlay_image_key = overlay_image_key
        self.scalars = dict(scalars or {})
        self.summary_key = summary_key
        self.overlay_min_side = overlay_min_side
        self.overlay_side_views = overlay_side_views

    def _reference(self, d: Mapping[Hashable, object]) -> tuple[str, str, str, tuple[float, ...] | None]:
        """Source file name, output stem, output image suffix and voxel size of the loaded input."""
        reference = d[self.ref_key]
        meta = reference.meta if isinstance(reference, MetaTensor) else d.get(f"{self.ref_key}_meta_dict", {})
        source = str(meta.get("filename_or_obj", "") or "")
        if not source:
            raise ValueError(f"{self.ref_key} has no source file name (filename_or_obj): cannot name the outputs.")
        suffix = "nii.gz" if source.lower().endswith((".nii", ".nii.gz")) else "tif"
        affine = meta.get("original_affine")
        spacing = spacing_from_affine(convert_to_numpy(affine)) if affine is not None else None
        return source, image_stem(source), suffix, spacing

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        source, stem, suffix, spacing = self._reference(d)
        outputs: dict[str, str] = {}
        for kind, key in self.images.items():
            if key not in d:
                continue
            array = convert_to_numpy(d[key])
            array = array[0] if array.shape[0] == 1 else array
            path = self.output_dir / f"{stem}_{kind}.{suffix}"
            write_image(path, array, spacing, rgb=False)
            outputs[kind] = str(path)
        summary: dict[str, object] = {"image": source}
        if self.images.get("instances") in d:
            summary["n_instances"] = int(np.count_nonzero(np.unique(convert_to_numpy(d[self.images["instances"]]))))
        first_points = None
        for kind, table in self.tables.items():
            columns = dict(table.get("columns", {}))
            if table["points"] not in d or any(key not in d for key in columns.values()):
                continue
            points = convert_to_numpy(d[table["points"]]).astype(np.float64)
            first_points = points if first_points is None else first_points
            extra = {name: convert_to_numpy(d[key]).reshape(-1) for name, key in columns.items()}
            path = self.output_dir / f"{stem}_{kind}.csv"
            write_centroids_csv(path, points, spacing=spacing, extra_columns=extra)
            outputs[kind] = str(path)
            summary[f"n_{kind}"] = int(len(points))
        if self.overlay_image_key is not None and self.overlay_image_key in d:
            instances_key = self.images.get("instances")
            instances = convert_to_numpy(d[instances_key])[0] if instances_key in d else None
            image = convert_to_numpy(d[self.overlay_image_key])[0]
            picture = overlay_projection(
                image,
                instances,
                first_points,
                spacing=spacing if spacing is not None and len(spacing) == image.ndim else None,
                min_side=self.overlay_min_side,
                side_views=self.overlay_side_views,
            )
            path = self.output_dir / f"{stem}_overlay.png"
            write_image(path, picture, rgb=True)
            outputs["overlay"] = str(path)
        for name, key in self.scalars.items():
            if key in d:
                summary[name] = float(np.asarray(convert_to_numpy(d[key])).reshape(-1)[0])
        summary["outputs"] = outputs
        d[self.summary_key] = summary
        return d
