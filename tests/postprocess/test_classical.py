"""Classical baseline instances (cellbundles.postprocess.classical) and its MONAI transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from scipy import ndimage

from cellbundles.postprocess import classical_instances
from cellbundles.transforms import ClassicalInstances, ClassicalInstancesd, EstimateDiameter, EstimateDiameterd

SPACING = (1.0, 0.5, 0.5)


def blurred_balls(shape, centres_um, radius_um, spacing=SPACING, seed=0):
    """Fluorescence-like image of bright balls (physical centres and radius), blurred, with Poisson noise."""
    grid = np.indices(shape).astype(np.float64)
    image = np.zeros(shape)
    for centre in centres_um:
        distance2 = sum(((g + 0.5) * s - c) ** 2 for g, s, c in zip(grid, spacing, centre))
        image[distance2 <= radius_um**2] = 1.0
    image = ndimage.gaussian_filter(image, 0.6 / np.asarray(spacing)) + 0.05
    return np.random.default_rng(seed).poisson(200 * image).astype(np.float32) / 200


@pytest.mark.parametrize("threshold", ["otsu", "local"])
def test_separated_and_touching_balls_give_one_instance_each(threshold):
    radius = 3.0
    separated = [(8.0, 8.0, 8.0), (8.0, 8.0, 24.0), (8.0, 22.0, 16.0)]
    touching = [(16.0, 26.0, 8.0), (16.0, 26.0, 8.0 + 2 * radius)]  # in contact along x
    image = blurred_balls((24, 64, 64), separated + touching, radius)
    labels = classical_instances(image, SPACING, 2 * radius, threshold=threshold)
    assert labels.dtype == np.int32 and labels.shape == image.shape
    assert labels.max() == 5 and len(np.unique(labels)) == 6
    centres = np.round((np.array(separated + touching) / SPACING) - 0.5).astype(int)
    assert len(set(labels[tuple(centres.T)])) == 5 and 0 not in labels[tuple(centres.T)]


def test_empty_image_and_specks_give_no_instances():
    assert classical_instances(np.zeros((16, 32, 32), np.float32), SPACING, 6.0).max() == 0
    specks = np.zeros((16, 32, 32), np.float32)
    specks[4, 5, 5] = specks[10, 20, 20] = 1.0  # far below a quarter of a 6 um nucleus
    assert classical_instances(specks, SPACING, 6.0).max() == 0


def test_invalid_arguments():
    with pytest.raises(ValueError, match="threshold"):
        classical_instances(np.zeros((8, 8)), 1.0, 4.0, threshold="adaptive")
    with pytest.raises(ValueError, match="diameter_um"):
        classical_instances(np.zeros((8, 8)), 1.0, 0.0)
    with pytest.raises(ValueError, match="2D or 3D"):
        classical_instances(np.zeros(8), 1.0, 4.0)


def test_transforms_read_the_spacing_and_store_the_diameter():
    image = blurred_balls((24, 48, 48), [(8.0, 8.0, 8.0), (12.0, 14.0, 16.0)], 3.0)
    affine = torch.diag(torch.tensor([*SPACING, 1.0], dtype=torch.float64))
    item = {"image": MetaTensor(torch.from_numpy(image)[None], affine=affine)}

    diameter = EstimateDiameter()(item["image"])
    assert 4.5 <= diameter <= 7.5
    estimated = EstimateDiameterd("image")(item)
    assert estimated["nucleus_diameter_um"] == pytest.approx(diameter)
    given = EstimateDiameterd("image", diameter=6)(item)
    assert given["nucleus_diameter_um"] == 6.0
    assert EstimateDiameterd("image", diameter=9)(given)["nucleus_diameter_um"] == 6.0  # kept

    out = ClassicalInstancesd("image", mask_keys="mask")(given)
    labels, mask = out["instances"], out["mask"]
    assert isinstance(labels, MetaTensor) and labels.dtype == torch.int32 and labels.shape == (1, 24, 48, 48)
    assert labels.max() == 2 and torch.equal(mask, (labels > 0).to(torch.int32))
    assert torch.allclose(labels.affine, affine)
    assert torch.equal(ClassicalInstances(6.0)(item["image"]), labels)

    with pytest.raises(ValueError, match="diameter_um"):
        ClassicalInstancesd("image")(item)  # no diameter in the sample and none given
    with pytest.raises(ValueError, match="positive"):
        EstimateDiameterd("image", diameter=-1)
    with pytest.raises(ValueError, match="spacing"):
        EstimateDiameter()(torch.from_numpy(image)[None])  # a plain tensor has no spacing


def test_two_dimensional_image():
    spacing = (0.5, 0.5)
    image = blurred_balls((64, 64), [(8.0, 8.0), (8.0, 22.0), (22.0, 15.0)], 3.0, spacing=spacing)
    labels = ClassicalInstances(6.0, spacing=spacing)(torch.from_numpy(image)[None])
    assert labels.shape == (1, 64, 64) and labels.dtype == torch.int32 and labels.max() == 3
