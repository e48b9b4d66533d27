"""Detection targets from instance labels, seed 004's contour weights, and instances from detections."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cellbundles.engines import DetectionInferer, PrepareDetectionBatch, zoom_for_diameter
from cellbundles.postprocess import paint_instances, relabel_by_rank
from cellbundles.transforms import (
    DetectionsToInstancesd,
    InstancesToDetectionTargetsd,
    contour_weight_map,
    detection_targets,
)


def _labels() -> np.ndarray:
    labels = np.zeros((6, 8), dtype=np.int32)
    labels[1:3, 1:4] = 7  # rows 1-2, columns 1-3
    labels[4, 6] = 2  # one pixel
    return labels


def test_detection_targets_of_a_small_label_image():
    boxes, classes, masks = detection_targets(_labels())
    np.testing.assert_array_equal(boxes, [[6, 4, 7, 5], [1, 1, 4, 3]])  # ids 2 then 7; x1, y1, x2, y2
    assert boxes.dtype == np.float32 and classes.dtype == np.int64
    np.testing.assert_array_equal(classes, [1, 1])
    assert masks.shape == (2, 6, 8) and masks.dtype == np.uint8
    np.testing.assert_array_equal(masks[0], _labels() == 2)
    np.testing.assert_array_equal(masks[1], _labels() == 7)


def test_targets_transform_writes_torchvision_targets_and_weights():
    out = InstancesToDetectionTargetsd(keys="label")({"label": torch.from_numpy(_labels())[None]})
    assert out["boxes"].shape == (2, 4) and out["classes"].dtype == torch.int64
    assert out["masks"].shape == (2, 6, 8) and out["mask_weights"].shape == (6, 8)
    assert out["mask_weights"].dtype == torch.float32
    empty = InstancesToDetectionTargetsd(keys="label")({"label": torch.zeros(1, 5, 5)})
    assert empty["boxes"].shape == (0, 4) and empty["masks"].shape == (0, 5, 5)
    with pytest.raises(ValueError, match=r"\(1, H, W\)"):
        InstancesToDetectionTargetsd(keys="label")({"label": torch.zeros(5, 5)})


def test_contour_weights_are_two_on_an_isolated_contour_and_one_far_from_it():
    labels = np.zeros((80, 80), dtype=np.int32)
    labels[:, :40] = 1  # one straight vertical contour at column 39
    weights = contour_weight_map(labels)
    assert weights[40, 39] == pytest.approx(2.0)
    assert weights[40, 0] == pytest.approx(1.0) and weights[40, 79] == pytest.approx(1.0)  # > 12 px away
    assert 1.0 < weights[40, 45] < weights[40, 42] < 2.0  # decays with the distance
    assert weights.min() >= 1.0 and weights.max() <= 2.0
    np.testing.assert_array_equal(contour_weight_map(np.zeros((9, 9), dtype=int)), np.ones((9, 9)))
    with pytest.raises(ValueError, match="odd"):
        contour_weight_map(labels, kernel_size=24)


def test_painting_gives_overlaps_to_the_higher_score_and_relabels_by_rank():
    masks = np.zeros((3, 4, 6))
    masks[0, :, :3] = 0.9
    masks[1, :, 2:5] = 0.8
    masks[2, 0, 5] = 0.7  # one pixel
    scores = np.array([0.6, 0.9, 0.3])
    painted = paint_instances(masks, scores)
    np.testing.assert_array_equal(painted[0], [1, 1, 2, 2, 2, 3])
    relabelled, kept_scores = relabel_by_rank(painted, scores, min_size=2)
    np.testing.assert_array_equal(relabelled[0], [2, 2, 1, 1, 1, 0])
    np.testing.assert_array_equal(kept_scores, [0.9, 0.6])
    confident, confident_scores = relabel_by_rank(painted, scores, min_score=0.7)
    np.testing.assert_array_equal(confident[0], [0, 0, 1, 1, 1, 0])  # as if only the 0.9 detection was painted
    np.testing.assert_array_equal(confident_scores, [0.9])


class _FixedDetector(torch.nn.Module):
    """Stands in for a torchvision detector in evaluation mode: two detections per image."""

    def forward(self, images):
        masks = torch.zeros(2, 1, *images[0].shape[-2:])
        masks[0, 0, :4, :4] = 1.0
        masks[1, 0, 2:6, 2:6] = 0.9
        found = {"boxes": torch.tensor([[0.0, 0, 4, 4], [2.0, 2, 6, 6]]), "scores": torch.tensor([0.8, 0.5])}
        return [{**found, "labels": torch.ones(2, dtype=torch.int64), "masks": masks} for _ in images]


def test_inferer_output_decollates_into_instances_and_scores():
    from monai.data import decollate_batch

    output = DetectionInferer(max_detections=4)(torch.rand(2, 1, 8, 8), _FixedDetector())
    assert output["instances"].shape == (2, 1, 8, 8) and output["boxes"].shape == (2, 4, 4)
    assert torch.isnan(output["scores"][:, 2:]).all()
    item = decollate_batch({"pred": output})[1]
    out = DetectionsToInstancesd(keys="pred", min_size=2)(item)
    instances = out["instances"][0].numpy()
    assert instances[0, 0] == 1 and instances[5, 5] == 2 and instances[3, 3] == 1  # overlap to the 0.8 detection
    np.testing.assert_allclose(out["scores"], [0.8, 0.5])
    np.testing.assert_allclose(out["centroids"][0], [1.5, 1.5])
    assert out["boxes"].shape == (2, 4) and out["box_scores"].shape == (2,)
    confident = DetectionsToInstancesd(keys="pred", min_score=0.6)(item)
    assert confident["instances"].max() == 1 and confident["instances"][0, 5, 5] == 0
    np.testing.assert_allclose(confident["box_scores"], [0.8])
    with pytest.raises(ValueError, match="max_detections"):
        DetectionInferer(max_detections=1)(torch.rand(1, 1, 8, 8), _FixedDetector())


def test_prepare_batch_feeds_images_and_targets_to_the_detector():
    item = InstancesToDetectionTargetsd(keys="label")({"label": torch.from_numpy(_labels())[None]})
    item["image"] = torch.rand(1, 6, 8)
    images, targets, args, kwargs = PrepareDetectionBatch()([item, item])
    assert len(images) == 2 and images[0].shape == (1, 6, 8) and args == ()
    assert kwargs == {"targets": targets}
    assert set(targets[0]) == {"boxes", "labels", "masks", "mask_weights"}
    with pytest.raises(ValueError, match="no_collation"):
        PrepareDetectionBatch()({"image": torch.rand(2, 1, 6, 8)})


class _DiscDetector(torch.nn.Module):
    """Stands in for a detector that sees every bright disc: one detection per connected component; records
    the size of every image it is given."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def forward(self, images):
        from scipy import ndimage

        found = []
        for image in images:
            self.sizes.append(tuple(image.shape[-2:]))
            labels, n = ndimage.label(image[0].numpy() > 0.5)
            masks = torch.from_numpy(np.stack([labels == i for i in range(1, n + 1)])).float()[:, None]
            boxes = [[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in ndimage.find_objects(labels)]
            found.append({"boxes": torch.tensor(boxes, dtype=torch.float32), "scores": torch.full((n,), 0.9),
                          "labels": torch.ones(n, dtype=torch.int64), "masks": masks})  # fmt: skip
        return found


def _discs(diameter: int, size: int = 128) -> torch.Tensor:
    """``(1, 1, size, size)`` image with 4 bright discs of ``diameter`` pixels, centred in the quadrants."""
    yy, xx = np.mgrid[:size, :size]
    image = np.zeros((size, size), np.float32)
    for cy in (size // 4, 3 * size // 4):
        for cx in (size // 4, 3 * size // 4):
            image[(yy - cy) ** 2 + (xx - cx) ** 2 <= (diameter / 2) ** 2] = 1.0
    return torch.from_numpy(image)[None, None]


@pytest.mark.parametrize(
    "diameter, zoom, sizes",
    [
        (16, 2.0, [(128, 128), (256, 256)]),  # small nuclei: enlarged to 32 px
        (32, 1.0, [(128, 128)]),  # the trained size: one pass
        (48, 2 / 3, [(128, 128), (85, 85)]),  # large nuclei: reduced
    ],
)
def test_auto_zoom_brings_nuclei_to_the_trained_size_and_answers_on_the_input_grid(diameter, zoom, sizes):
    detector = _DiscDetector()
    output = DetectionInferer(max_detections=8, zoom="auto", nucleus_diameter=32.0)(_discs(diameter), detector)
    assert detector.sizes == sizes
    assert output["zoom"].item() == pytest.approx(zoom, rel=0.05)
    instances = output["instances"][0, 0].numpy()
    assert instances.shape == (128, 128) and len(np.unique(instances)) == 5  # the 4 discs, on the input grid
    truth = _discs(diameter)[0, 0].numpy() > 0.5
    assert np.logical_and(instances > 0, truth).sum() / np.logical_or(instances > 0, truth).sum() > 0.9
    boxes = output["boxes"][0, :4].numpy()
    np.testing.assert_allclose(np.sort(boxes[:, 0]), np.sort([32 - diameter / 2, 96 - diameter / 2] * 2), atol=1.5)


def test_zoom_for_a_given_object_diameter():
    assert zoom_for_diameter(None, 42.0) == 1.0
    assert zoom_for_diameter("auto", 42.0) == "auto"
    assert zoom_for_diameter(84, 42.0) == 0.5 and zoom_for_diameter(21.0, 42.0) == 2.0
    assert zoom_for_diameter(41.6, 42.0) == 1.0 and zoom_for_diameter(38.0, 42.0) == pytest.approx(42.0 / 38.0)
    for bad in (0, -3.0, "wide"):
        with pytest.raises(ValueError, match="positive number of pixels"):
            zoom_for_diameter(bad, 42.0)


def test_zoom_is_clipped_to_its_range_and_to_the_pixel_budget():
    detector = _DiscDetector()
    output = DetectionInferer(zoom="auto", nucleus_diameter=32.0, zoom_range=(0.5, 1.5))(_discs(8), detector)
    assert output["zoom"].item() == pytest.approx(1.5)  # 4x wanted, 1.5x allowed
    detector = _DiscDetector()
    output = DetectionInferer(zoom=2.0, max_zoomed_pixels=192 * 192)(_discs(16), detector)
    assert detector.sizes == [(192, 192)] and output["zoom"].item() == pytest.approx(1.5)
    item = DetectionsToInstancesd(keys="pred")({"pred": {k: v[0] for k, v in output.items()}})
    assert item["zoom"] == pytest.approx(1.5) and item["instances"].max() == 4
    with pytest.raises(ValueError, match="zoom"):
        DetectionInferer(zoom="large")
    with pytest.raises(ValueError, match="zoom_range"):
        DetectionInferer(zoom_range=(2.0, 1.0))


class _LeftHalfDetector(_DiscDetector):
    """Sees only the discs of the left half of whatever image it is given."""

    def forward(self, images):
        halves = [image.clone() for image in images]
        for image in halves:
            image[..., image.shape[-1] // 2 :] = 0
        return super().forward(halves)


def test_flip_tta_undoes_the_flips_and_averages_scores_over_the_views():
    image = _discs(24)
    output = DetectionInferer(max_detections=8, tta="flips")(image, _LeftHalfDetector())
    instances = output["instances"][0, 0].numpy()
    truth = image[0, 0].numpy() > 0.5
    assert len(np.unique(instances)) == 5  # left discs from the plain and y-flipped views, right ones from the others
    assert np.logical_and(instances > 0, truth).sum() / np.logical_or(instances > 0, truth).sum() > 0.95
    np.testing.assert_allclose(output["scores"][0, :4].numpy(), [0.45] * 4)  # 0.9 in two views of four
    np.testing.assert_allclose(np.sort(output["boxes"][0, :4, 0].numpy()), [20, 20, 84, 84], atol=1)
    assert torch.isnan(output["scores"][0, 4:]).all()
    plain = DetectionInferer(max_detections=8)(image, _LeftHalfDetector())
    assert len(np.unique(plain["instances"][0, 0].numpy())) == 3
    with pytest.raises(ValueError, match="tta"):
        DetectionInferer(tta="d8")


def test_the_pixel_budget_never_shrinks_an_image():
    detector = _DiscDetector()
    output = DetectionInferer(zoom=1.0, max_zoomed_pixels=64 * 64)(_discs(16), detector)
    assert detector.sizes == [(128, 128)] and output["zoom"].item() == 1.0
