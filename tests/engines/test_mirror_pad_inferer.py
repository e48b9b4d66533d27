"""MirrorPadInferer: the network sees the image reflected beyond its faces; the output is cropped back exactly."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor
from monai.inferers import SlidingWindowInferer

from cellbundles.engines import MirrorPadInferer
from cellbundles.engines.mirror_pad import mirror_pad


class RecordingNetwork(torch.nn.Module):
    """Returns its input and its input's mean over the spatial axes, and keeps what it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        return torch.cat([x, x.mean(dim=tuple(range(2, x.ndim)), keepdim=True).expand_as(x)], dim=1)


def test_the_network_sees_the_mirror_image_and_the_output_is_on_the_input_grid():
    image = torch.arange(2 * 1 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 1, 3, 4, 5)
    network = RecordingNetwork()
    output = MirrorPadInferer(margin=(1, 2, 2))(image, network)
    seen = network.seen[0]
    assert seen.shape == (2, 1, 5, 8, 9)
    # reflected without repeating the face voxel: the slice before the first is the second, etc.
    torch.testing.assert_close(seen[:, :, 0], image[:, :, 1, [2, 1, 0, 1, 2, 3, 2, 1]][..., [2, 1, 0, 1, 2, 3, 4, 3, 2]])
    torch.testing.assert_close(seen[:, :, 1:4, 2:6, 2:7], image)
    assert output.shape == (2, 2, 3, 4, 5)
    torch.testing.assert_close(output[:, :1], image)  # cropped back to the very voxels of the input
    torch.testing.assert_close(output[:, 1:], seen.mean(dim=(2, 3, 4), keepdim=True).expand(2, 1, 3, 4, 5))


def test_a_cut_blob_becomes_whole_and_centred_on_the_face():
    """Half a Gaussian blob at the x = 0 face: the network sees a whole one, its maximum on the face."""
    x = torch.arange(6, dtype=torch.float32)
    image = torch.exp(-(x**2) / 4.0).expand(1, 1, 4, 6).clone()
    network = RecordingNetwork()
    MirrorPadInferer(margin=5)(image, network)
    profile = network.seen[0][0, 0, 0]  # x: 5 mirrored voxels, the 6 of the image, 5 mirrored at the far face
    torch.testing.assert_close(profile[:6], profile[5:11].flip(0))  # symmetric about the face voxel
    assert int(profile.argmax()) == 5


def test_an_axis_shorter_than_its_pad_is_reflected_again_and_one_voxel_is_repeated():
    row = torch.tensor([1.0, 2.0, 3.0]).reshape(1, 1, 1, 3)
    extended = mirror_pad(row, [(0, 0), (4, 5)])
    assert extended[0, 0, 0].tolist() == [1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2]  # the row itself at 4-6
    torch.testing.assert_close(mirror_pad(row, [(2, 1), (0, 0)]), row.expand(1, 1, 4, 3))
    network = RecordingNetwork()
    output = MirrorPadInferer(margin=4)(row, network)
    assert network.seen[0].shape == (1, 1, 9, 11)
    torch.testing.assert_close(output[:, :1], row)
    MirrorPadInferer(margin=0)(row, network)
    assert network.seen[1].shape == row.shape


def test_min_size_pads_like_the_sliding_window_but_by_reflection():
    """Reaching the window by reflection is what ``SlidingWindowInferer(padding_mode="reflect")`` does where it can."""
    image = torch.rand(1, 1, 5, 9, 12)
    window = (8, 16, 16)

    def smooth(x):  # not pointwise, so the padded content reaches the output
        return torch.nn.functional.avg_pool3d(x, 3, stride=1, padding=1)

    network = RecordingNetwork()
    MirrorPadInferer(min_size=window)(image, network)
    assert network.seen[0].shape == (1, 1, 8, 16, 16)
    torch.testing.assert_close(network.seen[0][:, :, 1:6, 3:12, 2:14], image)  # (3, 7, 4) split as 1 + 2, 3 + 4, 2 + 2
    ours = MirrorPadInferer(min_size=window, inferer=SlidingWindowInferer(roi_size=window))(image, smooth)
    monai_reflect = SlidingWindowInferer(roi_size=window, padding_mode="reflect")(image, smooth)
    torch.testing.assert_close(ours, monai_reflect)


def test_wraps_a_sliding_window_and_keeps_the_metadata():
    image = MetaTensor(torch.rand(1, 1, 6, 20, 20), affine=torch.diag(torch.tensor([2.0, 0.5, 0.5, 1.0])))
    inferer = MirrorPadInferer(margin=(2, 4, 4), inferer=SlidingWindowInferer(roi_size=(4, 8, 8), overlap=0.5))
    output = inferer(image, torch.nn.Identity())
    assert isinstance(output, MetaTensor)
    torch.testing.assert_close(output.as_tensor(), image.as_tensor())
    torch.testing.assert_close(output.affine, image.affine)


@pytest.mark.parametrize("kwargs, name", [({"margin": -1}, "margin"), ({"margin": 2.5}, "margin"), ({"margin": (1, -2)}, "margin"), ({"min_size": (8, 1.5)}, "min_size")])
def test_bad_margins_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=f"{name} must be whole voxels"):
        MirrorPadInferer(**kwargs)


def test_inputs_without_batch_and_channel_axes_are_refused():
    with pytest.raises(ValueError, match=r"expected \(B, C, \[D,\] H, W\) inputs"):
        MirrorPadInferer(margin=1)(torch.rand(5, 5, 5), RecordingNetwork())
