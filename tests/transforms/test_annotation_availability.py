from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor, list_data_collate

from cellbundles.transforms import AnnotationAvailabilityd, CentroidsFromLabels, CentroidsFromLabelsd

GROUPS = {"has_mask": ("label", "weight"), "has_centroids": "density"}


def image():
    return MetaTensor(torch.rand(1, 8, 10, 12), affine=torch.diag(torch.tensor([2.0, 0.5, 0.5, 1.0])))


def test_flags_and_placeholders_for_a_centroid_only_sample():
    sample = {"image": image(), "density": torch.rand(1, 8, 10, 12)}
    out = AnnotationAvailabilityd(GROUPS)(sample)
    assert out["has_mask"].tolist() == [0.0] and out["has_centroids"].tolist() == [1.0]
    assert out["has_mask"].dtype == torch.float32
    for key in ("label", "weight"):
        assert isinstance(out[key], MetaTensor) and out[key].shape == (1, 8, 10, 12)
        assert not out[key].any()
        torch.testing.assert_close(out[key].affine, sample["image"].affine)
    assert out["density"] is sample["density"]


def test_mask_only_samples_collate_with_full_samples():
    transform = AnnotationAvailabilityd(GROUPS, placeholder_channels={"density": 1})
    ones = MetaTensor(torch.ones(1, 8, 10, 12))
    full = {"image": image(), "label": ones, "weight": ones, "density": None}
    both = {"image": image(), "label": ones, "weight": ones, "density": ones}
    batch = list_data_collate([transform(full), transform(both)])
    assert batch["has_mask"].shape == (2, 1) and batch["has_mask"].flatten().tolist() == [1.0, 1.0]
    assert batch["has_centroids"].flatten().tolist() == [0.0, 1.0]
    assert batch["density"].shape == (2, 1, 8, 10, 12)


def test_partly_present_group_raises():
    with pytest.raises(ValueError, match="partly present"):
        AnnotationAvailabilityd(GROUPS)({"image": image(), "label": torch.ones(1, 8, 10, 12)})


def test_empty_annotation_groups_raise():
    with pytest.raises(ValueError):
        AnnotationAvailabilityd({"has_mask": ()})


def test_centroids_from_labels_in_label_order():
    labels = np.zeros((1, 10, 12, 14), dtype=np.uint16)
    labels[0, 1:4, 2:6, 3:5] = 7
    labels[0, 5:9, 6:10, 8:14] = 2
    centroids = CentroidsFromLabels()(labels)
    np.testing.assert_allclose(centroids, [[6.5, 7.5, 10.5], [2.0, 3.5, 3.5]])
    assert CentroidsFromLabels()(np.zeros((1, 4, 4))).shape == (0, 2)


def test_centroids_from_labels_keeps_annotated_centroids_unless_overwrite():
    labels = np.zeros((1, 8, 8), dtype=np.int32)
    labels[0, 2:4, 2:4] = 1
    annotated = np.array([[5.0, 5.0]])
    kept = CentroidsFromLabelsd()({"label": labels, "centroids": annotated})
    assert kept["centroids"] is annotated
    replaced = CentroidsFromLabelsd(overwrite=True)({"label": labels, "centroids": annotated})
    np.testing.assert_allclose(replaced["centroids"], [[2.5, 2.5]])
    assert "centroids" not in CentroidsFromLabelsd(allow_missing_keys=True)({"image": labels})
