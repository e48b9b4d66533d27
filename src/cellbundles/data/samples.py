"""The sample data vendored in the repository (``data/samples``, licences in its README), for the demo and MONAI Label."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SAMPLES_DIR", "DSB_HELD_OUT_IMAGES", "QCANET_SPACING"]

SAMPLES_DIR = Path(__file__).resolve().parents[3] / "data" / "samples"
"""``data/samples`` of the repository (an editable install; absent from a wheel)."""

DSB_HELD_OUT_IMAGES = (
    "193ffaa5272d5c421ae02130a64d98ad120ec70e4ed97a72cdcd4801ce93b066",
    "52a4ac5a875be7a6c886035d54fb63f5f397dc43508c4831898f6b2f8debc7f3",
    "cdab367b30db47061df837c1ae9fa875d6057614f797332d37d3513517d6c694",
    "d7d12a2acc47a94961aeb56fd56e8a0873016af75f5dd10915de9db8af8e4f5e",
)
"""Vendored DSB2018 images held out of both 2D bundles' training: in the test section of
``data/splits/dsb2018_stage1_train_full.json`` (nuclei_resunet_2d) and in neither the training nor the
validation section of ``configs/datalist.json`` (nuclei_semantic_2d). All four are fluorescence fields: no
stained image of the vendored subset is held out of both."""

QCANET_SPACING = (1.75, 0.8, 0.8)
"""Voxel size (z, y, x) in um of the vendored QCANet embryo, which its TIFF does not state."""
