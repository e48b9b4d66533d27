"""Networks of the cellbundles methods (docs/design.md, "Package layers")."""

from __future__ import annotations

from .dropout import enable_mc_dropout, is_dropout
from .fpf import FUSION_SITES, FUSIONS, FPFMaskRCNN, PyramidFusion, warm_start_from_nucleus
from .maskrcnn import NativeScaleTransform, ReducedMaskRCNN, WeightedMaskRoIHeads
from .recyclegan import PatchGANDiscriminator, ResNetGenerator, SlicePredictor, SliceWise
from .reduced_resnet import ReducedResNet50, reduced_resnet50_fpn
from .residual_encoder import ResidualEncoder
from .resunet import ResUNet
from .segdet import SegDetNet, split_segdet_output
from .shape import SegShapeNet
from .semantic import (
    SEMANTIC_NETWORKS,
    ResNetFCN,
    SimpleCNN,
    count_parameters,
    semantic_network,
    semantic_unet,
)

__all__ = [
    "FPFMaskRCNN",
    "FUSIONS",
    "FUSION_SITES",
    "NativeScaleTransform",
    "PatchGANDiscriminator",
    "PyramidFusion",
    "ReducedMaskRCNN",
    "ReducedResNet50",
    "WeightedMaskRoIHeads",
    "ResNetFCN",
    "ResNetGenerator",
    "ResUNet",
    "ResidualEncoder",
    "SEMANTIC_NETWORKS",
    "SegDetNet",
    "SegShapeNet",
    "SimpleCNN",
    "SlicePredictor",
    "SliceWise",
    "count_parameters",
    "enable_mc_dropout",
    "is_dropout",
    "reduced_resnet50_fpn",
    "semantic_network",
    "semantic_unet",
    "split_segdet_output",
    "warm_start_from_nucleus",
]
