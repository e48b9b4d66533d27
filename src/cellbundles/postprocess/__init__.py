"""Post-processing of network outputs: peaks, counts, instances, uncertainty (docs/design.md, "Package layers").

numpy / scipy / scikit-image only: importing this package does not import torch or MONAI.
"""

from __future__ import annotations

from .cell_rules import apply_cell_rules, cover_nuclei, merge_cells_sharing_nuclei, recover_foreground
from .detections import merge_view_detections, paint_instances, relabel_by_rank
from .distance import instances_from_distance, normalised_distance
from .intensity_trim import trim_to_intensity
from .peaks import BatchDensityPeaks, count_from_density, find_density_peaks
from .semantic import grow_instances, instances_from_binary, instances_from_three_class, remove_small_instances, split_touching
from .uncertainty import flag_most_uncertain, mc_uncertainty_radii
from .watershed import FLOOD_MODES, seeded_watershed, watershed_from_markers

__all__ = [
    "apply_cell_rules",
    "cover_nuclei",
    "merge_cells_sharing_nuclei",
    "recover_foreground",
    "FLOOD_MODES",
    "BatchDensityPeaks",
    "count_from_density",
    "find_density_peaks",
    "flag_most_uncertain",
    "grow_instances",
    "instances_from_binary",
    "instances_from_distance",
    "instances_from_three_class",
    "merge_view_detections",
    "mc_uncertainty_radii",
    "normalised_distance",
    "paint_instances",
    "relabel_by_rank",
    "remove_small_instances",
    "seeded_watershed",
    "split_touching",
    "trim_to_intensity",
    "watershed_from_markers",
]

from .classical import THRESHOLD_METHODS, classical_instances  # noqa: E402
from .classical_cells import classical_cells, stain_segmentations  # noqa: E402
from .diameter import DIAMETER_METHODS, estimate_nucleus_diameter  # noqa: E402

from .size import equivalent_diameters_um, median_diameter_um  # noqa: E402

__all__ += ["DIAMETER_METHODS", "THRESHOLD_METHODS", "classical_instances", "estimate_nucleus_diameter"]
__all__ += ["classical_cells", "stain_segmentations"]
__all__ += ["equivalent_diameters_um", "median_diameter_um"]

from .shape import SHAPE_CLASSES, nucleus_shapes  # noqa: E402

__all__ += ["SHAPE_CLASSES", "nucleus_shapes"]
