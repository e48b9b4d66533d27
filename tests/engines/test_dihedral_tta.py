"""DihedralTTAInferer: every view is mapped back onto the input grid before the outputs are averaged."""

from __future__ import annotations

import pytest
import torch
from monai.inferers import SlidingWindowInferer

from cellbundles.engines import DihedralTTAInferer, dihedral_transforms


class PositionNetwork(torch.nn.Module):
    """An output that is not symmetric: the input plus its x coordinate, which a wrong inverse view would move."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.arange(x.shape[-1], dtype=x.dtype)


class CountingNetwork(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        return 2 * x


@pytest.mark.parametrize("name, n_views", [("none", 1), ("flips", 4), ("d8", 8)])
def test_equivariant_network_output_is_unchanged_and_every_view_runs(name, n_views):
    image = torch.rand(2, 1, 5, 7)  # not square: rotated views have shape (7, 5)
    network = CountingNetwork()
    output = DihedralTTAInferer(name)(image, network)
    assert output.shape == image.shape
    torch.testing.assert_close(output, 2 * image)
    assert len(network.calls) == n_views
    assert set(network.calls) == ({(2, 1, 5, 7)} if name in ("none", "flips") else {(2, 1, 5, 7), (2, 1, 7, 5)})


def test_mean_over_views_of_a_position_dependent_network():
    """x + column index: a flip of x turns the column index into (W - 1 - index) on the way back, so the
    4 flip views give x + (W - 1) / 2 everywhere; with rotations, half the views add a row index instead."""
    image = torch.rand(1, 1, 4, 6)
    flips = DihedralTTAInferer("flips")(image, PositionNetwork())
    torch.testing.assert_close(flips, image + 2.5)
    d8 = DihedralTTAInferer("d8")(image, PositionNetwork())
    torch.testing.assert_close(d8, image + (2.5 + 1.5) / 2)


def test_3d_views_leave_z_alone_and_wrap_a_sliding_window():
    volume = torch.zeros(1, 1, 3, 8, 8)
    volume[0, 0, 0, 1, 2] = 1.0  # one bright voxel in the first z slice
    inferer = DihedralTTAInferer("d8", SlidingWindowInferer(roi_size=(3, 4, 4), overlap=0.5))
    output = inferer(volume, CountingNetwork())
    torch.testing.assert_close(output, 2 * volume)


def test_unknown_name_and_unbatched_input_are_refused():
    with pytest.raises(ValueError, match="unknown test-time augmentation 'd4'.*none, flips, d8"):
        dihedral_transforms("d4")
    with pytest.raises(ValueError, match=r"expected \(B, C, \[D,\] H, W\) inputs, got shape \(5, 7\)"):
        DihedralTTAInferer()(torch.zeros(5, 7), CountingNetwork())
