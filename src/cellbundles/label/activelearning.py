"""Active learning by uncertainty: a MONAI Label scoring method and strategy for cellbundles bundles.

The scoring method gives every unlabelled image an uncertainty in ``[0, 1]`` (1: the model is least sure),
stored in the datastore's image info; the strategy serves the unlabelled image with the highest one.

- A bundle with Monte-Carlo dropout (``mc_dropout_samples`` in its inference config, ``nuclei_segdet_3d``):
  the mean over the detected centroids of ``min(1, r / min_distance_um)``, ``r`` the radius of a centroid's
  90 % confidence volume over the dropout passes (``inf`` when too few passes find it; see
  :func:`cellbundles.postprocess.mc_uncertainty_radii`) and ``min_distance_um`` the smallest distance
  between two centroids: a centroid that wanders as far as to a neighbour counts fully uncertain.
- Any other bundle: test-time-augmentation disagreement, ``1 - F1@0.5`` between the instances of the
  image and those of its mirror image (mirrored back).

An image in which the model finds no nucleus scores 1: nothing to agree on is no sign of confidence.
Images the bundle does not take (a 3D stack for a 2D bundle, say) are skipped, with the cause logged.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from monailabel.interfaces.datastore import Datastore
from monailabel.interfaces.tasks.scoring import ScoringMethod
from monailabel.interfaces.tasks.strategy import Strategy

from cellbundles.io import full_suffix, read_image, read_spacing, write_image
from cellbundles.label.infer import CellBundleInferTask, instance_label_array
from cellbundles.metrics.matching import match_instances

__all__ = ["MostUncertain", "UncertaintyScoring", "centroid_uncertainty", "mirror_disagreement"]

logger = logging.getLogger(__name__)

MC_DROPOUT_PASSES = 8


def centroid_uncertainty(radii_um: np.ndarray, min_distance_um: float) -> float:
    """Mean of ``min(1, r / min_distance_um)`` over the centroids' confidence radii; 1 without centroid."""
    radii = np.asarray(radii_um, dtype=float).ravel()
    if radii.size == 0:
        return 1.0
    return float(np.mean(np.minimum(radii / min_distance_um, 1.0)))


def mirror_disagreement(instances: np.ndarray, mirrored_back: np.ndarray) -> float:
    """``1 - F1`` at IoU 0.5 between two instance images of one image; 1 when neither holds a nucleus."""
    if not instances.any() and not mirrored_back.any():
        return 1.0
    return 1.0 - float(match_instances(instances, mirrored_back, thresh=0.5).f1)


class UncertaintyScoring(ScoringMethod):
    """Score the unlabelled images of the datastore with one bundle's uncertainty (module docstring).

    Args:
        bundle: bundle folder; its own infer task is built here (with dropout passes where it has them).
        conf: MONAI Label app configuration.
        key: image-info key of the score (read by :class:`MostUncertain`).
    """

    def __init__(self, bundle: str | Path, conf: dict[str, str], key: str) -> None:
        super().__init__(f"Uncertainty of {Path(bundle).name} on every unlabelled image (1: least sure)")
        self.key = key
        self.task = CellBundleInferTask(str(bundle), conf)
        self.mc_dropout = "mc_dropout_samples" in self.task.bundle_config.config
        if self.mc_dropout:
            self.task.bundle_config["mc_dropout_samples"] = MC_DROPOUT_PASSES
            self.min_distance_um = float(self.task.bundle_config.get_parsed_content("min_distance_um"))

    def _instances(self, image: str, device: str) -> tuple[np.ndarray, dict[str, Any]]:
        _, data = self.task({"image": image, "device": device, "skip_writer": True})
        return instance_label_array(data[self.task.output_label_key], image, self.task.dimension), data

    def uncertainty(self, image: str, device: str = "cpu") -> float:
        """The uncertainty of the bundle on the image file ``image``, in ``[0, 1]``."""
        instances, data = self._instances(image, device)
        if self.mc_dropout:
            if not instances.any():
                return 1.0
            return centroid_uncertainty(np.asarray(data["uncertainty_radius_um"]), self.min_distance_um)
        array, _ = read_image(image)
        colour = array.ndim == self.task.dimension + 1 and array.shape[-1] in (3, 4)  # (H, W, RGB[A])
        axis = -2 if colour else -1  # x, also in (H, W, C) colour images and (C, H, W) channel planes
        with tempfile.TemporaryDirectory() as folder:
            mirrored = str(Path(folder) / f"mirrored{full_suffix(image)}")
            write_image(mirrored, np.flip(array, axis).copy(), read_spacing(image), rgb=colour)
            mirrored_instances, _ = self._instances(mirrored, device)
        return mirror_disagreement(instances, np.flip(mirrored_instances, -1))

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any]:
        device = str(request.get("device", "cpu"))
        scores = {}
        for image_id in datastore.get_unlabeled_images():
            try:
                scores[image_id] = self.uncertainty(datastore.get_image_uri(image_id), device)
            except ValueError as error:  # an image the bundle does not take (e.g. a 3D stack for a 2D bundle)
                logger.warning(f"{self.key}: {image_id} not scored: {error}")
                continue
            datastore.update_image_info(image_id, {self.key: scores[image_id]})
            logger.info(f"{self.key}: {image_id}: {scores[image_id]:.4f}")
        return {"key": self.key, "scores": scores}


class MostUncertain(Strategy):
    """Serve the unlabelled image with the highest score under ``key`` (set by :class:`UncertaintyScoring`).

    Unscored images are served only when no unlabelled image has a score yet (run the scoring first).
    """

    def __init__(self, key: str) -> None:
        super().__init__(f"The unlabelled image with the highest {key}")
        self.key = key

    def __call__(self, request: dict[str, Any], datastore: Datastore) -> dict[str, Any] | None:
        images = sorted(datastore.get_unlabeled_images(request.get("label_tag"), request.get("labels")))
        scores = {image: datastore.get_image_info(image).get(self.key) for image in images}
        scored = {image: score for image, score in scores.items() if score is not None}
        if not scored:
            return {"id": images[0], self.key: None} if images else None
        image = max(scored, key=lambda name: (scored[name], name))
        return {"id": image, self.key: scored[image]}
