"""The MONAI Label app of cellbundles (start it with ``python -m cellbundles.label``).

Per bundle ``<name>`` with weights: the infer task ``<name>``, the train task ``<name>`` (fine-tuning on the
submitted labels, :mod:`cellbundles.label.train`), the scoring method and the active-learning strategy
``uncertainty_<name>`` (:mod:`cellbundles.label.activelearning`).

MONAI Label loads this file as the app's ``main.py`` and instantiates the ``MONAILabelApp`` subclass in it.
App configuration (``--conf key value``):

- ``bundles_dir``: folder of bundles (default: this repository's ``bundles/``);
- ``models``: comma-separated bundle names, or ``all`` (default); of these, the bundles with weights and a
  segmentation output are served (:func:`is_servable`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.interfaces.tasks.scoring import ScoringMethod
from monailabel.interfaces.tasks.strategy import Strategy
from monailabel.interfaces.tasks.train import TrainTask

from cellbundles.label.activelearning import MostUncertain, UncertaintyScoring
from cellbundles.label.infer import CellBundleInferTask
from cellbundles.label.train import CellBundleTrainTask

logger = logging.getLogger(__name__)

BUNDLES_DIR = Path(__file__).resolve().parents[4] / "bundles"


def bundle_folders(bundles_dir: str | Path, models: str = "all") -> list[Path]:
    """The bundle folders named by ``models`` (comma-separated names, or ``all``) in ``bundles_dir``.

    Raises:
        ValueError: naming ``bundles_dir`` and the bundles it holds when a name is not one of them.
    """
    bundles_dir = Path(bundles_dir)
    available = sorted(path.name for path in bundles_dir.iterdir() if (path / "configs" / "metadata.json").is_file())
    names = available if models.strip() == "all" else [name.strip() for name in models.split(",") if name.strip()]
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ValueError(f"{bundles_dir}: no bundle {', '.join(unknown)}; it holds {', '.join(available)}.")
    return [bundles_dir / name for name in names]


def is_servable(bundle: Path) -> bool:
    """A bundle MONAI Label can serve: weights, and a segmentation output (the ``format`` of its metadata's
    output ``pred`` names a segmentation); a bundle that makes images, like the Recycle-GAN, is not served."""
    if not (bundle / "models" / "model.pt").is_file():
        return False
    metadata = json.loads((bundle / "configs" / "metadata.json").read_text())
    return "segmentation" in metadata["network_data_format"]["outputs"]["pred"].get("format", "")


class CellBundlesApp(MONAILabelApp):
    """MONAI Label app serving cellbundles bundles, each through :class:`CellBundleInferTask`."""

    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]) -> None:
        bundles = bundle_folders(conf.get("bundles_dir", BUNDLES_DIR), conf.get("models", "all"))
        self.bundles = [bundle for bundle in bundles if is_servable(bundle)]
        for bundle in sorted(set(bundles) - set(self.bundles)):
            logger.warning(f"{bundle}: no models/model.pt or no segmentation output; not served.")
        super().__init__(
            app_dir=app_dir,
            studies=studies,
            conf=conf,
            name="cellbundles",
            description="Nuclei instance segmentation and detection in fluorescence microscopy (cellbundles bundles)",
        )

    def init_infers(self) -> dict[str, InferTask]:
        return {bundle.name: CellBundleInferTask(str(bundle), self.conf) for bundle in self.bundles}

    def init_trainers(self) -> dict[str, TrainTask]:
        return {bundle.name: CellBundleTrainTask(bundle) for bundle in self.bundles}

    def init_scoring_methods(self) -> dict[str, ScoringMethod]:
        return {f"uncertainty_{b.name}": UncertaintyScoring(b, self.conf, f"uncertainty_{b.name}") for b in self.bundles}

    def init_strategies(self) -> dict[str, Strategy]:
        return {f"uncertainty_{bundle.name}": MostUncertain(f"uncertainty_{bundle.name}") for bundle in self.bundles}
