from __future__ import annotations

import pytest
import torch
from monai.inferers import sliding_window_inference

from cellbundles.networks.residual_encoder import ResidualEncoder
from cellbundles.networks.resunet import ResUNet
from cellbundles.networks.semantic import count_parameters

TINY = (4, 8, 8, 16)


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Tiny networks run faster on one thread than on two cores shared with other processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_net(**kwargs) -> ResUNet:
    torch.manual_seed(0)
    return ResUNet(features=TINY, **kwargs).eval()


@pytest.mark.parametrize(
    "features, expected",
    [((64, 128, 256, 512), 14_491_714), ((32, 64, 128, 256), 3_627_042), ((16, 32, 64, 128), 908_818),
     ((8, 16, 32, 64), 228_234)],
)
def test_parameter_counts_match_the_documented_table(features, expected):
    assert count_parameters(ResUNet(features=features)) == expected


def test_encoder_follows_table_1_of_the_paper():
    # 256 x 256 input: stem 128 x 128 x 64, stages 64, 32, 16, 8 with 64-64-128-256-512 channels
    encoder = ResidualEncoder(spatial_dims=2, in_channels=3).eval()
    with torch.no_grad():
        features = encoder(torch.rand(1, 3, 256, 256))
    assert [tuple(f.shape[1:]) for f in features] == [
        (64, 128, 128),
        (64, 64, 64),
        (128, 32, 32),
        (256, 16, 16),
        (512, 8, 8),
    ]
    assert encoder.feature_channels == (64, 64, 128, 256, 512)


@pytest.mark.parametrize("shape", [(2, 1, 64, 64), (1, 1, 67, 45), (1, 1, 31, 33)])
def test_full_resolution_output_has_the_input_size(shape):
    with torch.no_grad():
        out = tiny_net()(torch.rand(shape))
    assert out.shape == (shape[0], 2, *shape[2:])


def test_paper_half_resolution_output():
    net = tiny_net(full_resolution=False)
    with torch.no_grad():
        assert net(torch.rand(1, 1, 64, 64)).shape == (1, 2, 32, 32)
        assert net(torch.rand(1, 1, 67, 45)).shape == (1, 2, 34, 23)


def test_sliding_window_inference_on_odd_sizes():
    net = tiny_net(in_channels=3, out_channels=3)
    image = torch.rand(1, 3, 91, 70)
    with torch.no_grad():
        out = sliding_window_inference(image, (64, 64), 2, net, overlap=0.25)
    assert out.shape == (1, 3, 91, 70)
    assert torch.isfinite(out).all()


def test_odd_sizes_are_padded_at_the_end_and_cropped_back():
    # the network pads 67 x 45 to 96 x 64 (replicate, at the end of each axis): the result must be
    # the top-left crop of the output for the explicitly padded image
    net = tiny_net()
    image = torch.rand(1, 1, 67, 45)
    with torch.no_grad():
        out = net(image)
        reference = net(torch.nn.functional.pad(image, [0, 19, 0, 29], mode="replicate"))
    torch.testing.assert_close(out, reference[..., :67, :45])


def test_torchscript_and_trace_match_eager():
    net = tiny_net()
    image = torch.rand(1, 1, 67, 45)
    scripted = torch.jit.script(net)
    with torch.no_grad():
        torch.testing.assert_close(scripted(image), net(image))
        square = torch.rand(2, 1, 64, 64)
        traced = torch.jit.trace(net, square)
        torch.testing.assert_close(traced(square), net(square))


def test_a_few_training_steps_reduce_the_loss():
    torch.manual_seed(0)
    net = ResUNet(features=TINY)
    image = torch.zeros(2, 1, 32, 32)
    image[:, :, 8:24, 8:24] = 1.0
    target = (image[:, 0] > 0.5).long()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(image), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="four positive stage widths"):
        ResUNet(features=(8, 16, 32))
    with pytest.raises(ValueError, match="residual blocks"):
        ResUNet(blocks=(2, 2, 0, 2))
    with pytest.raises(ValueError, match="spatial_dims"):
        ResUNet(spatial_dims=1)
