from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import AsDiscreted, Compose

from cellbundles.networks import SegDetNet
from cellbundles.transforms import (
    DensityCountd,
    DensityPeaksd,
    GrowInstancesd,
    MCDropoutUncertaintyd,
    ProbabilityMask,
    ProbabilityMaskd,
    SeededWatershedd,
    SplitSegDetOutputd,
    TrimInstancesd,
    render_gaussian_density,
)

SPACING = (1.0, 0.5, 0.5)
AFFINE = torch.diag(torch.tensor([*SPACING, 1.0]))


def fake_prediction():
    """A decollated SegDetNet output for two touching spheres: logits then density."""
    shape = (20, 40, 48)
    centres = np.array([[10, 20, 17], [10, 20, 31]])
    grid = np.indices(shape)
    inside = np.zeros(shape, dtype=bool)
    for centre in centres:
        # spheres of radius 4 um: 4 voxels along z, 8 along y and x
        inside |= sum(((g - c) * s) ** 2 for g, c, s in zip(grid, centre, SPACING)) <= 16
    logits = np.stack([np.where(inside, -3.0, 3.0), np.where(inside, 3.0, -3.0)])
    density = render_gaussian_density(centres, shape, 1.0 / np.array(SPACING))[None]
    prediction = MetaTensor(torch.from_numpy(np.concatenate([logits, density]).astype(np.float32)), affine=AFFINE)
    return prediction, centres


def test_probability_mask_keeps_voxels_whose_nucleus_probability_reaches_the_threshold():
    # nucleus probabilities softmax([0, l]) = 0.5, 0.55, 0.62, 0.73 for logit differences l
    probabilities = torch.tensor([0.5, 0.55, 0.62, 0.73])
    logits = torch.zeros(2, 4, 1, 1)
    logits[1, :, 0, 0] = torch.log(probabilities / (1 - probabilities))
    mask = ProbabilityMask(threshold=0.6)(MetaTensor(logits, affine=AFFINE))
    assert isinstance(mask, MetaTensor) and mask.dtype == torch.float32
    torch.testing.assert_close(mask.affine, AFFINE.to(mask.affine.dtype))
    assert mask.shape == (1, 4, 1, 1)
    assert mask.flatten().tolist() == [0.0, 0.0, 1.0, 1.0]
    assert ProbabilityMask(threshold=0.5)(logits.numpy()).flatten().tolist() == [1.0, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="at least 2 classes"):
        ProbabilityMask()(logits[:1])


def test_probability_maskd_writes_the_mask_in_place_or_beside_the_logits():
    logits = torch.tensor([[0.0, 0.0], [-1.0, 1.0]])[:, :, None, None]
    beside = ProbabilityMaskd("seg", threshold=0.7, mask_keys="mask")({"seg": logits})
    assert beside["seg"] is logits
    assert beside["mask"].flatten().tolist() == [0.0, 1.0]
    in_place = ProbabilityMaskd("seg", threshold=0.7)({"seg": logits})
    assert in_place["seg"].flatten().tolist() == [0.0, 1.0]


def test_post_processing_chain_gives_mask_centroids_count_and_instances():
    prediction, centres = fake_prediction()
    chain = Compose(
        [
            SplitSegDetOutputd(keys="pred", seg_keys="seg", density_keys="density"),
            AsDiscreted(keys="seg", argmax=True),
            DensityPeaksd(keys="density", threshold=1e-3, min_distance_um=2.0),
            DensityCountd(keys="density"),
            SeededWatershedd(keys="seg", seeds_key="centroids", instance_keys="instances"),
        ]
    )
    out = chain({"pred": prediction})
    assert out["seg"].shape == (1, 20, 40, 48) and out["density"].shape == (1, 20, 40, 48)
    assert {tuple(c) for c in out["centroids"].tolist()} == {tuple(c) for c in centres.tolist()}
    assert out["peak_values"].shape == (2,)
    assert out["count"] == pytest.approx(2.0, abs=1e-4)
    instances = out["instances"]
    assert isinstance(instances, MetaTensor) and instances.dtype == torch.int32
    torch.testing.assert_close(instances.affine, AFFINE.to(instances.affine.dtype))
    assert set(torch.unique(instances).tolist()) == {0, 1, 2}
    for row, centre in enumerate(out["centroids"], start=1):
        assert instances[0][tuple(centre)] == row


def test_density_peaks_keeps_only_the_peaks_a_second_map_supports():
    """Three maxima of a distance map; the density marks a nucleus centre at two of them (the third is a second
    maximum inside one large nucleus): with ``support_key`` only those two are seeds, with their own values."""
    distance, density = np.zeros((1, 8, 30, 30)), np.zeros((1, 8, 30, 30))
    for (z, y, x), value in (((4, 5, 5), 0.9), ((4, 5, 20), 0.8), ((4, 22, 12), 0.7)):
        distance[0, z, y, x] = value
    density[0, 4, 4:7, 4:7] = 0.01  # around the first maximum
    density[0, 4, 22, 12] = 0.002  # just above the support threshold
    data = {"distance": distance, "density": density}
    common = {"keys": "distance", "threshold": 0.4, "min_distance_um": 3.0, "spacing": (1.0, 0.5, 0.5)}
    everything = DensityPeaksd(**common)(data)
    assert {tuple(c) for c in everything["centroids"].tolist()} == {(4, 5, 5), (4, 5, 20), (4, 22, 12)}
    supported = DensityPeaksd(**common, support_key="density", support_threshold=0.0015)(data)
    assert supported["centroids"].tolist() == [[4, 5, 5], [4, 22, 12]]
    np.testing.assert_allclose(supported["peak_values"], [0.9, 0.7])
    with pytest.raises(ValueError, match="'density' has shape .* not the same grid"):
        DensityPeaksd(**common, support_key="density")({"distance": distance, "density": density[:, :4]})


def test_seeded_watershed_moves_the_split_to_the_seam_of_the_logits():
    """Nuclei at x 10-23 and 26-39 with a seam at x 24 and 25, seeds at x 19 and 36: the bisector (x 27.5) gives
    x 26 and 27 of the second nucleus to the first; with ``logits_key`` the split follows the low-probability
    seam the network drew."""
    mask = np.zeros((1, 8, 12, 48), np.float32)
    mask[0, 2:6, 2:10, 10:40] = 1
    nucleus = np.where(mask[0] > 0, 4.0, -4.0)
    nucleus[2:6, 2:10, 24:26] = -1.0  # the seam, probability 0.12
    seg = MetaTensor(torch.as_tensor(np.stack([np.zeros_like(nucleus), nucleus]), dtype=torch.float32), affine=AFFINE)
    data = {"mask": MetaTensor(torch.as_tensor(mask), affine=AFFINE), "seg": seg, "seeds": np.array([[4, 6, 19], [4, 6, 36]])}
    common = dict(keys="mask", seeds_key="seeds", flood="seed_distance", unseeded="drop")
    bisected = np.asarray(SeededWatershedd(**common)(data)["instances"])[0]
    assert (bisected[2:6, 2:10, 26:28] == 1).all()
    split = np.asarray(SeededWatershedd(**common, logits_key="seg", probability_weight=8.0)(data)["instances"])[0]
    assert (split[2:6, 2:10, 10:24] == 1).all() and (split[2:6, 2:10, 26:40] == 2).all()
    with pytest.raises(ValueError, match="logits"):
        SeededWatershedd(**common, logits_key="mask", probability_weight=8.0)(data)


def test_grow_instances_gives_back_the_seam_inside_the_mask():
    """A network trained with ``gap_width`` leaves a low-probability seam between touching nuclei: the
    instances grow back over it, and the mask takes the grown voxels in, so instances stay inside it."""
    instances = np.zeros((1, 6, 10, 16), np.int32)
    instances[0, 1:5, 2:8, 2:7], instances[0, 1:5, 2:8, 9:14] = 1, 2  # seam at x 7, 8
    nucleus = np.where(instances[0] > 0, 4.0, -4.0)
    nucleus[1:5, 2:8, 7:9] = -1.0  # probability 0.12 on the seam, 0.0003 on the background
    seg = MetaTensor(torch.as_tensor(np.stack([np.zeros_like(nucleus), nucleus]), dtype=torch.float32), affine=AFFINE)
    data = {"seg": seg, "instances": MetaTensor(torch.as_tensor(instances), affine=AFFINE), "mask": torch.as_tensor(instances > 0)}
    out = GrowInstancesd("instances", logits_key="seg", steps=1, threshold=0.1, mask_key="mask")(data)
    grown = out["instances"]
    assert isinstance(grown, MetaTensor) and grown.dtype == torch.int32
    torch.testing.assert_close(grown.affine, AFFINE.to(grown.affine.dtype))
    grown = grown.numpy()[0]
    assert (grown[1:5, 2:8, 7] == 1).all() and (grown[1:5, 2:8, 8] == 2).all()
    assert not (grown[instances[0] == 0] > 0)[(nucleus[instances[0] == 0] < -2)].any()
    mask = np.asarray(out["mask"])[0]
    assert ((grown > 0) <= mask).all() and mask.dtype == bool
    untouched = GrowInstancesd("instances", steps=0)(data)["instances"]
    np.testing.assert_array_equal(np.asarray(untouched), instances)
    with pytest.raises(ValueError, match="steps"):
        GrowInstancesd("instances", steps=-1)
    with pytest.raises(ValueError, match="logits"):
        GrowInstancesd("instances")({**data, "seg": seg[:1]})
    probability = torch.sigmoid(seg[1:])  # a sigmoid head: the same growth from its probabilities
    from_probabilities = GrowInstancesd("instances", "probability", 1, 0.1, probabilities=True)({**data, "probability": probability})
    np.testing.assert_array_equal(np.asarray(from_probabilities["instances"])[0], grown)
    with pytest.raises(ValueError, match="one-channel"):
        GrowInstancesd("instances", "probability", probabilities=True)({**data, "probability": seg})


def test_split_checks_the_channel_count():
    with pytest.raises(ValueError, match="channels"):
        SplitSegDetOutputd(keys="pred")({"pred": torch.zeros(4, 8, 8)})


def test_peaks_need_a_single_channel_and_a_spacing():
    with pytest.raises(ValueError, match="one-channel"):
        DensityPeaksd("density", threshold=0.0, min_distance_um=1.0, spacing=1.0)({"density": torch.zeros(2, 8, 8)})
    with pytest.raises(ValueError, match="spacing"):
        DensityPeaksd(keys="density", threshold=0.0, min_distance_um=1.0)({"density": np.zeros((1, 8, 8))})


def test_mc_dropout_uncertainty_per_centroid():
    torch.manual_seed(0)
    net = SegDetNet(features=(4, 8, 8, 16), density_activation="identity").train()
    image = MetaTensor(torch.rand(1, 16, 16, 16), affine=AFFINE)
    centroids = np.array([[8, 8, 8], [4, 12, 3]])
    transform = MCDropoutUncertaintyd(
        keys="image", network=net, num_passes=4, threshold=-1e9, min_distance_um=1.0, seed=0, flag_fraction=0.5
    )
    out = transform({"image": image, "centroids": centroids})
    radii = out["uncertainty"]
    assert radii.shape == (2,) and np.all(np.isfinite(radii)) and np.all(radii >= 0)
    assert out["uncertain"].tolist() == [bool(radii[0] > radii[1]), bool(radii[1] >= radii[0])]
    assert net.training  # the network's mode is restored
    again = transform({"image": image, "centroids": centroids})
    np.testing.assert_array_equal(again["uncertainty"], radii)


def test_mc_dropout_uncertainty_radii_are_physical_on_a_grid_scaled_to_the_nuclei():
    """On a volume resampled to twice the voxel size (nuclei twice the training size), the peak search runs on the
    network grid (``spacing``) and finds the same peaks, and the radii are in the image's own um: twice as large."""
    torch.manual_seed(0)
    net = SegDetNet(features=(4, 8, 8, 16), density_activation="identity").train()
    voxels, centroids = torch.rand(1, 16, 16, 16), np.array([[8, 8, 8], [4, 12, 3]])
    radii = []
    for scale in (1.0, 2.0):
        image = MetaTensor(voxels.clone(), affine=torch.diag(torch.tensor([*(np.array(SPACING) * scale), 1.0])))
        transform = MCDropoutUncertaintyd(
            keys="image", network=net, num_passes=4, threshold=-1e9, min_distance_um=1.0, spacing=SPACING, seed=0
        )
        radii.append(transform({"image": image, "centroids": centroids})["uncertainty"])
    assert np.all(radii[0] > 0)
    np.testing.assert_allclose(radii[1], 2 * radii[0], rtol=1e-6)


def test_mc_dropout_uncertainty_runs_only_the_dropout_passes():
    """The centroids come from the evaluator's own pass: no dropout-free pass is run again."""
    torch.manual_seed(0)
    net = SegDetNet(features=(4, 8, 8, 16), density_activation="identity").eval()
    forward_modes = []
    net.register_forward_hook(lambda module, inputs, output: forward_modes.append(module.bottleneck_dropout.training))
    transform = MCDropoutUncertaintyd(keys="image", network=net, num_passes=3, threshold=0.0, min_distance_um=1.0)
    transform({"image": MetaTensor(torch.rand(1, 16, 16, 16), affine=AFFINE), "centroids": np.zeros((0, 3))})
    assert forward_modes == [True, True, True]


def test_trim_instances_cuts_labels_back_to_the_bright_nucleus_and_the_mask_with_them():
    """Labels grown past a dim isolated ball lose the dark voxels; the mask loses exactly those voxels."""
    grid = np.indices((12, 20, 20))
    ball = np.sqrt(sum((axis - c) ** 2 for axis, c in zip(grid, (6, 10, 10)))) <= 4
    wide = np.sqrt(sum((axis - c) ** 2 for axis, c in zip(grid, (6, 10, 10)))) <= 6
    image = MetaTensor(torch.as_tensor(np.where(ball, 50.0, 5.0)[None], dtype=torch.float32), affine=AFFINE)
    labels = MetaTensor(torch.as_tensor(wide[None].astype(np.int32)), affine=AFFINE)
    mask = torch.as_tensor(wide[None] | (grid[2] < 2)[None])  # the mask also holds a strip outside the instance
    out = TrimInstancesd("instances", image_key="image", fraction=0.5, mask_key="mask")(
        {"image": image, "instances": labels, "mask": mask}
    )
    trimmed = out["instances"]
    assert isinstance(trimmed, MetaTensor) and trimmed.dtype == torch.int32
    trimmed = trimmed.numpy()[0]
    assert (ball <= (trimmed == 1)).all() and (trimmed == 1).sum() < wide.sum()
    removed = wide & (trimmed == 0)
    np.testing.assert_array_equal(np.asarray(out["mask"])[0], (wide | (grid[2] < 2)) & ~removed)
    untouched = TrimInstancesd("instances", fraction=0.0)({"image": image, "instances": labels})["instances"]
    np.testing.assert_array_equal(np.asarray(untouched), np.asarray(labels))
    with pytest.raises(ValueError, match="fraction"):
        TrimInstancesd("instances", fraction=-0.1)
