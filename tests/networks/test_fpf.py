"""Feature pyramid fusion of seed 004: fused shapes at every level, the nucleus pyramid frozen."""

from __future__ import annotations

import pytest
import torch

from cellbundles.networks import (
    FPFMaskRCNN,
    PyramidFusion,
    ReducedMaskRCNN,
    reduced_resnet50_fpn,
    warm_start_from_nucleus,
)

SMALL = {"widths": (8, 16, 32, 64), "fpn_channels": 32}


def _pyramid():
    return reduced_resnet50_fpn(in_channels=1, **SMALL)


@pytest.mark.parametrize("site", ["output", "lateral"])
@pytest.mark.parametrize("fusion", ["add", "concat"])
def test_fusion_shapes_at_every_level(fusion, site):
    torch.manual_seed(0)
    fused = PyramidFusion(_pyramid(), _pyramid(), fusion=fusion, site=site).eval()
    levels = fused(torch.rand(2, 2, 64, 96))
    assert list(levels) == ["0", "1", "2", "3", "pool"]
    sizes = [(16, 24), (8, 12), (4, 6), (2, 3), (1, 2)]  # strides 4-32, then P6 pooled from P5 (ceil)
    assert [tuple(level.shape) for level in levels.values()] == [(2, 32, *size) for size in sizes]


def test_add_fusion_is_the_sum_and_the_channels_are_routed():
    torch.manual_seed(0)
    cell, nucleus = _pyramid().eval(), _pyramid().eval()
    fused = PyramidFusion(cell, nucleus, fusion="add", nucleus_channel=1, cell_channel=0).eval()
    x = torch.rand(1, 2, 64, 64)
    expected_cell, expected_nucleus = cell(x[:, :1]), nucleus(x[:, 1:])
    for name, level in fused(x).items():
        torch.testing.assert_close(level, expected_cell[name] + expected_nucleus[name])


def test_lateral_fusion_of_zero_nucleus_features_is_the_cell_pyramid():
    torch.manual_seed(0)
    cell = _pyramid().eval()
    fused = PyramidFusion(cell, _pyramid(), site="lateral").eval()
    image = torch.rand(1, 1, 64, 96)
    zeros = {name: torch.zeros(1, 32, 64 // s, 96 // s) for name, s in zip("0123", (4, 8, 16, 32))}
    expected = cell(image)
    levels = fused._lateral_fused_pyramid(image, zeros)
    assert list(levels) == list(expected)
    for name, level in levels.items():
        torch.testing.assert_close(level, expected[name])


@pytest.mark.parametrize("site, reaches_p2", [("output", False), ("lateral", True)])
def test_coarse_nucleus_features_reach_fine_levels_only_through_lateral_fusion(site, reaches_p2):
    torch.manual_seed(0)
    fused = PyramidFusion(_pyramid(), _pyramid(), site=site).eval()
    x = torch.rand(1, 2, 64, 64)
    nucleus = fused.nucleus(x[:, :1])
    changed = {**nucleus, "3": nucleus["3"] + 1.0}  # P5 of the nucleus pyramid only
    fused.nucleus.forward = lambda image: changed
    after = fused(x)
    fused.nucleus.forward = lambda image: nucleus
    before = fused(x)
    assert not torch.equal(after["3"], before["3"])
    assert (not torch.allclose(after["0"], before["0"])) == reaches_p2


def test_unknown_fusion_or_site_is_refused():
    with pytest.raises(ValueError, match="fusion"):
        PyramidFusion(_pyramid(), _pyramid(), fusion="mean")
    with pytest.raises(ValueError, match="site"):
        PyramidFusion(_pyramid(), _pyramid(), site="input")


@pytest.mark.parametrize("fusion, site", [("add", "output"), ("concat", "output"), ("concat", "lateral")])
def test_nucleus_branch_stays_frozen_after_a_step(tmp_path, fusion, site):
    torch.manual_seed(0)
    nucleus_model = ReducedMaskRCNN(**SMALL)
    torch.save({"model": nucleus_model.state_dict()}, tmp_path / "nucleus.pt")
    model = FPFMaskRCNN(fusion=fusion, fusion_site=site, **SMALL).load_nucleus_weights(tmp_path / "nucleus.pt")
    before = {k: v.clone() for k, v in model.backbone.nucleus.state_dict().items()}
    for key, value in before.items():
        torch.testing.assert_close(value, nucleus_model.state_dict()[f"backbone.{key}"])
    cell_before = [p.clone() for p in model.backbone.cell.parameters()]
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    masks = torch.zeros(1, 64, 64, dtype=torch.uint8)
    masks[0, 10:30, 12:34] = 1
    target = {
        "boxes": torch.tensor([[12.0, 10.0, 34.0, 30.0]]),
        "labels": torch.tensor([1]),
        "masks": masks,
        "mask_weights": torch.ones(64, 64),
    }
    model.train()
    assert not model.backbone.nucleus.training
    losses = model([torch.rand(2, 64, 64)], [target])
    optimizer.zero_grad()
    sum(losses.values()).backward()
    optimizer.step()
    for key, value in model.backbone.nucleus.state_dict().items():
        torch.testing.assert_close(value, before[key])  # weights and batch-norm statistics
    assert any(not torch.equal(p, q) for p, q in zip(model.backbone.cell.parameters(), cell_before))


def test_load_nucleus_weights_names_a_wrong_file(tmp_path):
    model = FPFMaskRCNN(**SMALL)
    with pytest.raises(ValueError, match="no such nucleus weights file"):
        model.load_nucleus_weights(tmp_path / "missing.pt")
    torch.save({"model": ReducedMaskRCNN(widths=(8, 16, 32, 32), fpn_channels=32).state_dict()}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt: not the weights of a nucleus model"):
        model.load_nucleus_weights(tmp_path / "other.pt")


def test_fpf_detects_in_evaluation_mode():
    model = FPFMaskRCNN(fusion="concat", **SMALL).eval()
    (found,) = model([torch.rand(2, 50, 70)])
    assert found["masks"].shape[1:] == (1, 50, 70)


@pytest.mark.parametrize("fusion, site", [("add", "output"), ("concat", "output"), ("add", "lateral")])
def test_torchscript_of_the_inference_model_matches_eager(fusion, site):
    from cellbundles.networks.maskrcnn import script_for_inference

    torch.manual_seed(0)
    model = FPFMaskRCNN(fusion=fusion, fusion_site=site, box_score_thresh=0.0, **SMALL).eval()
    images = [torch.rand(2, 64, 64)]
    _, (scripted,) = script_for_inference(model)(images)
    (eager,) = model(images)
    torch.testing.assert_close(scripted["scores"], eager["scores"])
    torch.testing.assert_close(scripted["masks"], eager["masks"])


def test_torch_export_fails_on_the_data_dependent_number_of_detections():
    model = FPFMaskRCNN(fusion="add", detections_per_img=5, **SMALL).eval()
    with pytest.raises(Exception, match="data-dependent") as error:
        torch.export.export(model, ([torch.rand(2, 64, 64)],))
    assert "batched_nms" in str(error.value)


def _saved_nucleus_model(tmp_path):
    torch.manual_seed(0)
    nucleus_model = ReducedMaskRCNN(**SMALL)
    torch.save({"model": nucleus_model.state_dict()}, tmp_path / "nucleus.pt")
    return nucleus_model.state_dict()


def test_warm_start_copies_every_weight_into_a_cell_only_model(tmp_path):
    nucleus = _saved_nucleus_model(tmp_path)
    torch.manual_seed(1)
    model = warm_start_from_nucleus(ReducedMaskRCNN(**SMALL), tmp_path / "nucleus.pt")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, nucleus[key])


def test_warm_start_duplicates_and_halves_the_first_convolution_for_two_channels(tmp_path):
    nucleus = _saved_nucleus_model(tmp_path)
    torch.manual_seed(1)
    model = warm_start_from_nucleus(ReducedMaskRCNN(in_channels=2, **SMALL), tmp_path / "nucleus.pt")
    first = "backbone.body.conv1.weight"
    torch.testing.assert_close(model.state_dict()[first], torch.cat([nucleus[first], nucleus[first]], dim=1) / 2)
    # the same image in both channels gives the nucleus model's first activations
    image = torch.rand(1, 1, 32, 32)
    conv = model.backbone.body.conv1
    torch.testing.assert_close(conv(torch.cat([image, image], dim=1)), torch.nn.functional.conv2d(
        image, nucleus[first], stride=conv.stride, padding=conv.padding))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in nucleus.items() if k != first)


@pytest.mark.parametrize("fusion", ["add", "concat"])
def test_warm_start_of_fpf_initialises_the_cell_pyramid_and_keeps_the_merges(tmp_path, fusion):
    nucleus = _saved_nucleus_model(tmp_path)
    torch.manual_seed(1)
    model = FPFMaskRCNN(fusion=fusion, fusion_site="lateral", **SMALL)
    merges_before = {k: v.clone() for k, v in model.state_dict().items() if ".merge." in k}
    warm_start_from_nucleus(model.load_nucleus_weights(tmp_path / "nucleus.pt"), tmp_path / "nucleus.pt")
    state = model.state_dict()
    for key, value in nucleus.items():
        cell_key = key.replace("backbone.", "backbone.cell.", 1)
        torch.testing.assert_close(state[cell_key], value)
        if key.startswith("backbone."):
            torch.testing.assert_close(state[key.replace("backbone.", "backbone.nucleus.", 1)], value)
    assert len(merges_before) == (8 if fusion == "concat" else 0)
    for key, value in merges_before.items():
        torch.testing.assert_close(state[key], value)


def test_warm_start_names_a_file_of_other_widths(tmp_path):
    torch.save(ReducedMaskRCNN(widths=(8, 16, 32, 32), fpn_channels=32).state_dict(), tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt: not the weights of a nucleus model"):
        warm_start_from_nucleus(ReducedMaskRCNN(**SMALL), tmp_path / "other.pt")
    with pytest.raises(ValueError, match="no such nucleus weights file"):
        warm_start_from_nucleus(ReducedMaskRCNN(**SMALL), tmp_path / "missing.pt")
