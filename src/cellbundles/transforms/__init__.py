"""MONAI array and dictionary transforms of the cellbundles methods (docs/design.md, "Conventions")."""

from __future__ import annotations

from .availability import AnnotationAvailabilityd, AnnotationAvailabilityD, AnnotationAvailabilityDict
from .augment import RandNucleusContrastd, RandNucleusContrastD, RandNucleusContrastDict, dsb_augmentations
from .centroids import CentroidsFromLabels, CentroidsFromLabelsd, CentroidsFromLabelsD, CentroidsFromLabelsDict
from .decoding import (
    DensityCountd,
    DensityCountD,
    DensityCountDict,
    DensityPeaksd,
    DensityPeaksD,
    DensityPeaksDict,
    GrowInstancesd,
    GrowInstancesD,
    GrowInstancesDict,
    InstancesFromBinaryd,
    InstancesFromBinaryD,
    InstancesFromBinaryDict,
    InstancesFromThreeClassd,
    InstancesFromThreeClassD,
    InstancesFromThreeClassDict,
    ProbabilityMask,
    ProbabilityMaskd,
    ProbabilityMaskD,
    ProbabilityMaskDict,
    SeededWatershedd,
    SeededWatershedD,
    SeededWatershedDict,
    SplitSegDetOutputd,
    SplitSegDetOutputD,
    SplitSegDetOutputDict,
    TrimInstancesd,
    TrimInstancesD,
    TrimInstancesDict,
)
from .density import (
    CentroidsToDensity,
    CentroidsToDensityd,
    CentroidsToDensityD,
    CentroidsToDensityDict,
    render_gaussian_density,
)
from .distance import (
    INSTANCE_METHODS,
    InstancesFromDistanced,
    InstancesFromDistanceD,
    InstancesFromDistanceDict,
    InstancesToDistanceTarget,
    InstancesToDistanceTargetd,
    InstancesToDistanceTargetD,
    InstancesToDistanceTargetDict,
    NormalisedDistanced,
    NormalisedDistanceD,
    NormalisedDistanceDict,
)
from .intensity import INVERT_MODES, ToSingleChannel, ToSingleChanneld, ToSingleChannelD, ToSingleChannelDict
from .inputs import (
    CheckLabelsd,
    CheckLabelsD,
    CheckLabelsDict,
    ReportInputd,
    ReportInputD,
    ReportInputDict,
    StrictLoadImaged,
    StrictLoadImageD,
    StrictLoadImageDict,
)
from .outputs import SaveOutputsd
from .spacing import EnsureSpacingd, PointsToInputGridd, points_to_input_grid
from .targets import (
    InstancesToBinary,
    InstancesToBinaryd,
    InstancesToBinaryD,
    InstancesToBinaryDict,
    InstancesToThreeClass,
    InstancesToThreeClassd,
    InstancesToThreeClassD,
    InstancesToThreeClassDict,
    contact_pixels,
    seamed_foreground,
    three_class_map,
)
from .uncertainty import MCDropoutUncertaintyd, MCDropoutUncertaintyD, MCDropoutUncertaintyDict
from .utils import as_instance_labels, resolve_spacing
from .weights import (
    BorderWeightMap,
    BorderWeightMapd,
    BorderWeightMapD,
    BorderWeightMapDict,
    border_weight_map,
    class_balance_weights,
    contour_weight_map,
)
from .detection import (
    DetectionsToInstancesd,
    DetectionsToInstancesD,
    DetectionsToInstancesDict,
    InstancesToDetectionTargetsd,
    InstancesToDetectionTargetsD,
    InstancesToDetectionTargetsDict,
    detection_targets,
)

__all__ = [
    "CheckLabelsd",
    "CheckLabelsD",
    "CheckLabelsDict",
    "ReportInputd",
    "ReportInputD",
    "ReportInputDict",
    "StrictLoadImaged",
    "StrictLoadImageD",
    "StrictLoadImageDict",
    "DetectionsToInstancesD",
    "DetectionsToInstancesDict",
    "DetectionsToInstancesd",
    "InstancesToDetectionTargetsD",
    "InstancesToDetectionTargetsDict",
    "InstancesToDetectionTargetsd",
    "contour_weight_map",
    "detection_targets",
    "RandNucleusContrastd",
    "RandNucleusContrastD",
    "RandNucleusContrastDict",
    "EnsureSpacingd",
    "PointsToInputGridd",
    "SaveOutputsd",
    "points_to_input_grid",
    "AnnotationAvailabilityD",
    "AnnotationAvailabilityDict",
    "AnnotationAvailabilityd",
    "BorderWeightMap",
    "BorderWeightMapD",
    "BorderWeightMapDict",
    "BorderWeightMapd",
    "CentroidsFromLabels",
    "CentroidsFromLabelsD",
    "CentroidsFromLabelsDict",
    "CentroidsFromLabelsd",
    "CentroidsToDensity",
    "CentroidsToDensityD",
    "CentroidsToDensityDict",
    "CentroidsToDensityd",
    "DensityCountD",
    "DensityCountDict",
    "DensityCountd",
    "DensityPeaksD",
    "DensityPeaksDict",
    "DensityPeaksd",
    "GrowInstancesD",
    "GrowInstancesDict",
    "GrowInstancesd",
    "INSTANCE_METHODS",
    "INVERT_MODES",
    "InstancesFromDistanceD",
    "InstancesFromDistanceDict",
    "InstancesFromDistanced",
    "InstancesToDistanceTarget",
    "InstancesToDistanceTargetD",
    "InstancesToDistanceTargetDict",
    "InstancesToDistanceTargetd",
    "NormalisedDistanceD",
    "NormalisedDistanceDict",
    "NormalisedDistanced",
    "InstancesFromBinaryD",
    "InstancesFromBinaryDict",
    "InstancesFromBinaryd",
    "InstancesFromThreeClassD",
    "InstancesFromThreeClassDict",
    "InstancesFromThreeClassd",
    "InstancesToBinary",
    "InstancesToBinaryD",
    "InstancesToBinaryDict",
    "InstancesToBinaryd",
    "InstancesToThreeClass",
    "InstancesToThreeClassD",
    "InstancesToThreeClassDict",
    "InstancesToThreeClassd",
    "MCDropoutUncertaintyD",
    "MCDropoutUncertaintyDict",
    "MCDropoutUncertaintyd",
    "ProbabilityMask",
    "ProbabilityMaskD",
    "ProbabilityMaskDict",
    "ProbabilityMaskd",
    "SeededWatershedD",
    "SeededWatershedDict",
    "SeededWatershedd",
    "SplitSegDetOutputD",
    "SplitSegDetOutputDict",
    "SplitSegDetOutputd",
    "TrimInstancesD",
    "TrimInstancesDict",
    "TrimInstancesd",
    "ToSingleChannel",
    "ToSingleChannelD",
    "ToSingleChannelDict",
    "ToSingleChanneld",
    "as_instance_labels",
    "border_weight_map",
    "class_balance_weights",
    "dsb_augmentations",
    "render_gaussian_density",
    "resolve_spacing",
    "contact_pixels",
    "seamed_foreground",
    "three_class_map",
]

from .classical import ClassicalInstances, ClassicalInstancesd, ClassicalInstancesD, ClassicalInstancesDict  # noqa: E402
from .size import DIAMETER_KEY, EstimateDiameter, EstimateDiameterd, EstimateDiameterD, EstimateDiameterDict  # noqa: E402
from .size import ScaleToDiameterd, ScaleToDiameterD, ScaleToDiameterDict  # noqa: E402

__all__ += ["ClassicalInstances", "ClassicalInstancesD", "ClassicalInstancesDict", "ClassicalInstancesd"]
__all__ += ["DIAMETER_KEY", "EstimateDiameter", "EstimateDiameterD", "EstimateDiameterDict", "EstimateDiameterd"]
__all__ += ["ScaleToDiameterD", "ScaleToDiameterDict", "ScaleToDiameterd"]

from .recyclegan import (  # noqa: E402
    PAIR_FOLDERS,
    GANPhantomd,
    GANPhantomD,
    GANPhantomDict,
    NucleusContrastd,
    NucleusContrastD,
    NucleusContrastDict,
    PairedTargetsd,
    PairedTargetsD,
    PairedTargetsDict,
    SavePairedCropsd,
    SavePairedCropsD,
    SavePairedCropsDict,
    write_pairs_datalist,
    write_raw_pairs,
)

__all__ += ["PAIR_FOLDERS", "GANPhantomd", "GANPhantomD", "GANPhantomDict", "PairedTargetsd", "PairedTargetsD"]
__all__ += ["NucleusContrastd", "NucleusContrastD", "NucleusContrastDict"]
__all__ += ["PairedTargetsDict", "SavePairedCropsd", "SavePairedCropsD", "SavePairedCropsDict", "write_pairs_datalist"]
__all__ += ["write_raw_pairs"]

from .cell_rules import CellRulesd, CellRulesD, CellRulesDict  # noqa: E402
from .channels import PlanesToChannelsd, PlanesToChannelsD, PlanesToChannelsDict  # noqa: E402

__all__ += ["CellRulesd", "CellRulesD", "CellRulesDict", "PlanesToChannelsd", "PlanesToChannelsD", "PlanesToChannelsDict"]

from .shape import NucleusShapesd, NucleusShapesD, NucleusShapesDict  # noqa: E402

__all__ += ["NucleusShapesD", "NucleusShapesDict", "NucleusShapesd"]
