from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from monai.inferers import SlidingWindowInferer

from cellbundles.engines import MCDropoutInferer
from cellbundles.networks import SegDetNet
from cellbundles.postprocess import BatchDensityPeaks


def tiny_net() -> SegDetNet:
    torch.manual_seed(0)
    return SegDetNet(features=(4, 8, 8, 16), density_activation="identity")


def test_passes_differ_while_the_reference_is_deterministic():
    net = tiny_net().eval()
    image = torch.rand(1, 1, 20, 18, 16)
    sliding_window = SlidingWindowInferer(roi_size=(16, 16, 16), overlap=0.25)
    inferer = MCDropoutInferer(num_passes=3, inferer=sliding_window)
    first, second = inferer(image, net), inferer(image, net)
    torch.testing.assert_close(first["pred"], second["pred"], rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(first["pred"], sliding_window(image, net), rtol=0, atol=0)
    passes = first["mc_passes"]
    assert len(passes) == 3 and all(p.shape == (1, 3, 20, 18, 16) for p in passes)
    assert not torch.equal(passes[0], passes[1]) and not torch.equal(passes[1], passes[2])
    assert not torch.equal(passes[0], first["pred"])


def test_modes_and_batch_norm_statistics_are_left_untouched():
    net = tiny_net().train()
    running_means = [m.running_mean.clone() for m in net.modules() if isinstance(m, nn.BatchNorm3d)]
    MCDropoutInferer(num_passes=2)(torch.rand(2, 1, 16, 16, 16), net)
    assert all(m.training for m in net.modules())
    after = [m.running_mean for m in net.modules() if isinstance(m, nn.BatchNorm3d)]
    assert all(torch.equal(a, b) for a, b in zip(running_means, after))


def test_seed_reproduces_passes_and_restores_the_global_random_state():
    net = tiny_net().eval()
    image = torch.rand(1, 1, 16, 16, 16)
    state = torch.get_rng_state()
    first = MCDropoutInferer(num_passes=2, seed=7)(image, net)["mc_passes"]
    assert torch.equal(torch.get_rng_state(), state)
    second = MCDropoutInferer(num_passes=2, seed=7)(image, net)["mc_passes"]
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_pass_transform_keeps_only_peak_lists():
    net = tiny_net().eval()
    inferer = MCDropoutInferer(num_passes=4, pass_transform=BatchDensityPeaks(threshold=0.0, min_distance_um=2.0))
    out = inferer(torch.rand(2, 1, 16, 16, 16), net)
    assert len(out["mc_passes"]) == 4
    for peaks_per_item in out["mc_passes"]:
        assert len(peaks_per_item) == 2 and all(p.ndim == 2 and p.shape[1] == 3 for p in peaks_per_item)


def test_network_without_dropout_or_bad_pass_count_raises():
    with pytest.raises(ValueError, match="dropout"):
        MCDropoutInferer(num_passes=2)(torch.rand(1, 1, 8, 8), nn.Conv2d(1, 1, 3))
    with pytest.raises(ValueError):
        MCDropoutInferer(num_passes=0)


def test_reference_pass_can_be_skipped_without_changing_the_dropout_passes():
    net = tiny_net().eval()
    image = torch.rand(1, 1, 16, 16, 16)
    calls = []
    net.register_forward_hook(lambda module, inputs, output: calls.append(module.training))
    with_reference = MCDropoutInferer(num_passes=2, seed=3)(image, net)
    assert len(calls) == 3
    calls.clear()
    without = MCDropoutInferer(num_passes=2, seed=3, reference_pass=False)(image, net)
    assert len(calls) == 2 and "pred" not in without
    assert all(torch.equal(a, b) for a, b in zip(with_reference["mc_passes"], without["mc_passes"]))
