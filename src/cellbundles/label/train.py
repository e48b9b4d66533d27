"""MONAI Label training of a cellbundles bundle: fine-tune on the labels present, keep the better model.

Every ``/train`` request is one fresh run (never a resumed one), in ``<bundle>/monailabel/<run>/``:

1. the labelled images of the datastore (``final`` labels) with as many dimensions as the bundle's
   input (2D labels for a 2D bundle, 3D for a 3D one) are split into training and validation
   images (at least one of each; a single labelled image serves as both, and the report says so);
2. ``evaluate.json`` scores the current ``models/model.pt`` on the validation images;
3. ``train.json`` fine-tunes from ``models/model.pt`` (``pretrained_weights``) for ``max_epochs``, with
   its checkpoints in the run folder;
4. ``evaluate.json`` scores the run's best model on the same validation images, and the run's model
   replaces ``models/model.pt`` only when its key metric is higher.

The report (``report.json`` in the run folder, logged and returned) says what was trained on, both
scores and whether ``model.pt`` was replaced. Each step runs ``python -m monai.bundle run`` in a child
process (:func:`cellbundles.bundle_run.run_bundle`), exactly as a user would.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.train import TrainTask

from cellbundles.bundle_run import run_bundle
from cellbundles.data.layout import IMAGES_DIR, LABELS_DIR
from cellbundles.io import full_suffix, image_stem, read_labels

__all__ = ["CellBundleTrainTask", "split_labelled", "key_metric_name", "link_dataset"]

logger = logging.getLogger(__name__)

TRAIN = ["train.json"]
EVALUATE = ["train.json", "evaluate.json"]


def split_labelled(items: list[dict[str, str]], val_split: float) -> tuple[list[dict], list[dict], bool]:
    """Split labelled ``{"image", "label"}`` items into training and validation items (sorted by image).

    The last ``round(val_split * n)`` items, at least one and at most ``n - 1``, validate; with one item
    it is both the training and the validation item.

    Returns:
        training items, validation items, and whether they are the same item.

    Raises:
        ValueError: when there is no item.
    """
    if not items:
        raise ValueError("no labelled image in the datastore: submit a label (PUT /datastore/label) before /train.")
    items = sorted(items, key=lambda item: item["image"])
    if len(items) == 1:
        return items, items, True
    n_val = min(max(round(val_split * len(items)), 1), len(items) - 1)
    return items[:-n_val], items[-n_val:], False


def link_dataset(items: list[dict[str, str]], folder: Path) -> Path:
    """A dataset folder in the canonical layout (``images/``, ``labels/``) of symbolic links to ``items``."""
    for key, subfolder in (("image", IMAGES_DIR), ("label", LABELS_DIR)):
        (folder / subfolder).mkdir(parents=True, exist_ok=True)
        for item in items:
            name = image_stem(item["image"]) + full_suffix(item[key])
            (folder / subfolder / name).symlink_to(Path(item[key]).resolve())
    return folder


def key_metric_name(bundle: Path) -> str:
    """Name of the key metric that ``evaluate.json`` writes to ``metrics.json`` (its ``validate#key_metric``)."""
    for name in ("evaluate.json", "train.json"):
        config = json.loads((bundle / "configs" / name).read_text())
        if "validate#key_metric" in config:
            return next(iter(config["validate#key_metric"]))
        if "key_metric" in config.get("validate", {}):
            return next(iter(config["validate"]["key_metric"]))
    raise ValueError(f"{bundle}: neither evaluate.json nor train.json defines validate#key_metric.")


class CellBundleTrainTask(TrainTask):
    """MONAI Label ``TrainTask`` that fine-tunes a cellbundles bundle on the datastore's labels.

    Request options (``/train`` body): ``max_epochs`` (default 10), ``val_split`` (0.2) and ``device``
    (``"cpu"``); a run's report is returned and written to ``<bundle>/monailabel/<run>/report.json``.

    Args:
        path: bundle folder (``configs/train.json``, ``configs/evaluate.json``, ``models/model.pt``).
    """

    def __init__(self, path: str | Path) -> None:
        self.bundle = Path(path)
        metadata = json.loads((self.bundle / "configs" / "metadata.json").read_text())
        super().__init__(f"Fine-tune {self.bundle.name} on the labelled images; keep model.pt only if better")
        self.version = metadata.get("version")
        self.key_metric = key_metric_name(self.bundle)
        self.dimension = len(metadata["network_data_format"]["inputs"]["image"]["spatial_shape"])

    def labelled(self, datastore: Datastore) -> list[dict[str, str]]:
        """The datastore's labelled images whose labels have the bundle's number of dimensions."""
        items = []
        for item in datastore.datalist():
            if read_labels(item["label"])[0].ndim == self.dimension:
                items.append(item)
            else:
                logger.info(f"{self.bundle.name}: {item['label']} is not {self.dimension}D; not used.")
        return items

    def config(self) -> dict[str, Any]:
        return {"max_epochs": 10, "val_split": 0.2, "device": ["cpu", "cuda"]}

    def is_valid(self) -> bool:
        return (self.bundle / "models" / "model.pt").is_file()

    def _score(self, run: Path, name: str, datalist: Path, ckpt_dir: Path, device: str) -> float:
        """``evaluate.json`` with the model of ``ckpt_dir`` on the validation items; its key metric.

        The validation items are both the datalist's ``test`` section and the folder ``run/validation``
        (canonical layout): some bundles evaluate a datalist, others a folder."""
        output = run / name
        overrides = {"datalist": str(datalist), "dataset_dir": str(run / "validation"), "ckpt_dir": str(ckpt_dir)}
        overrides.update({"output_dir": str(output), "device": f"$torch.device('{device}')"})
        overrides.update(self._data_overrides())
        run_bundle(self.bundle, EVALUATE, overrides, log_file=run / f"{name}.log")
        return float(json.loads((output / "metrics.json").read_text())["metrics"][self.key_metric])

    def _data_overrides(self) -> dict[str, object]:
        """Overrides making a bundle that can train on generated data read its ``datalist`` instead."""
        train = json.loads((self.bundle / "configs" / "train.json").read_text())
        return {"data_source": "datalist"} if "data_source" in train else {}

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        training, validation, same = split_labelled(self.labelled(datastore), float(request.get("val_split", 0.2)))
        max_epochs, device = int(request.get("max_epochs", 10)), str(request.get("device", "cpu"))
        run = self.bundle / "monailabel" / time.strftime("train_%Y%m%d_%H%M%S")
        run.mkdir(parents=True)
        datalist = run / "datalist.json"
        datalist.write_text(json.dumps({"training": training, "validation": validation, "test": validation}, indent=2))
        link_dataset(validation, run / "validation")
        models = self.bundle / "models"
        logger.info(f"{self.bundle.name}: {len(training)} training and {len(validation)} validation images; {run}")

        before = self._score(run, "evaluate_before", datalist, models, device)
        overrides = {"datalist": str(datalist), "dataset_dir": str(run), "ckpt_dir": str(run / "models")}
        overrides.update({"output_dir": str(run / "train"), "max_epochs": max_epochs, "val_interval": 1})
        overrides.update({"pretrained_weights": str(models / "model.pt"), "device": f"$torch.device('{device}')"})
        overrides.update(self._data_overrides())
        seconds = run_bundle(self.bundle, TRAIN, overrides, log_file=run / "train.log")
        after = self._score(run, "evaluate_after", datalist, run / "models", device)

        replaced = after > before
        if replaced:
            shutil.copy2(models / "model.pt", run / "previous_model.pt")
            shutil.copy2(run / "models" / "model.pt", models / "model.pt")
        report = {
            "bundle": self.bundle.name,
            "run": str(run),
            "training_images": [item["image"] for item in training],
            "validation_images": [item["image"] for item in validation],
            "validation_is_training": same,
            "max_epochs": max_epochs,
            "training_seconds": round(seconds, 1),
            "key_metric": self.key_metric,
            "before": before,
            "after": after,
            "model_replaced": replaced,
        }
        (run / "report.json").write_text(json.dumps(report, indent=2))
        verdict = "replaced models/model.pt" if replaced else "kept models/model.pt (not better)"
        logger.info(f"{self.bundle.name}: {self.key_metric} {before:.4f} -> {after:.4f}: {verdict}. {run / 'report.json'}")
        return report
