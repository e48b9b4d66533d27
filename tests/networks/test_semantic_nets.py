from __future__ import annotations

import pytest
import torch
from monai.inferers import sliding_window_inference
from monai.networks.nets import BasicUNet

from cellbundles.networks.semantic import (
    SEMANTIC_NETWORKS,
    ResNetFCN,
    SimpleCNN,
    count_parameters,
    semantic_network,
    semantic_unet,
)

TINY_KWARGS = {
    "simple_cnn": {"features": (8,) * 6},
    "resnet_fcn": {"features": (8, 8, 16, 16)},
    "unet": {"features": (4, 8, 8, 16, 16, 4)},
}


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """Tiny networks run faster on one thread than on two cores shared with other processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(name: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return semantic_network(name, **TINY_KWARGS[name], **kwargs).eval()


def test_factory_names_and_types():
    assert SEMANTIC_NETWORKS == ("simple_cnn", "resnet_fcn", "unet")
    assert isinstance(semantic_network("simple_cnn"), SimpleCNN)
    assert isinstance(semantic_network("resnet_fcn"), ResNetFCN)
    assert isinstance(semantic_network("unet"), BasicUNet)
    with pytest.raises(ValueError, match="unknown semantic network 'mask_rcnn'"):
        semantic_network("mask_rcnn")


@pytest.mark.parametrize("name, expected", [("simple_cnn", 22_661), ("resnet_fcn", 11_172_937), ("unet", 1_948_163)])
def test_parameter_counts_match_the_documented_table(name, expected):
    assert count_parameters(semantic_network(name)) == expected


def test_count_parameters_trainable_only():
    net = SimpleCNN(features=(4, 4))
    total = count_parameters(net)
    assert total == 2 + (4 + 4) + (16 + 4) + (4 * 9 * 3 + 3)  # batch norm, two dense layers, 3x3 output conv
    net.layers[0].requires_grad_(False)
    assert count_parameters(net, trainable_only=True) == total - 2


@pytest.mark.parametrize("name", SEMANTIC_NETWORKS)
@pytest.mark.parametrize("shape", [(2, 1, 64, 64), (1, 1, 45, 37)])
def test_output_has_the_input_size(name, shape):
    with torch.no_grad():
        out = tiny(name)(torch.rand(shape))
    assert out.shape == (shape[0], 3, *shape[2:])


@pytest.mark.parametrize("name", SEMANTIC_NETWORKS)
def test_sliding_window_inference_on_odd_sizes(name):
    net = tiny(name, in_channels=3, out_channels=2)
    with torch.no_grad():
        out = sliding_window_inference(torch.rand(1, 3, 77, 90), (64, 64), 2, net, overlap=0.25)
    assert out.shape == (1, 2, 77, 90)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", SEMANTIC_NETWORKS)
def test_torchscript_and_trace_match_eager(name):
    net = tiny(name)
    image = torch.rand(1, 1, 45, 37)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.script(net)(image), net(image))
        square = torch.rand(2, 1, 64, 64)
        torch.testing.assert_close(torch.jit.trace(net, square)(square), net(square))


def test_simple_cnn_sees_only_a_3x3_neighbourhood():
    # the paper's dense layers act per pixel, so only the 3x3 output convolution mixes pixels
    net = tiny("simple_cnn")
    image = torch.rand(1, 1, 16, 16)
    changed = image.clone()
    changed[0, 0, 8, 8] += 1.0
    with torch.no_grad():
        difference = (net(changed) - net(image)).abs().sum(dim=1)[0]
    assert torch.nonzero(difference > 0).tolist() == [[r, c] for r in (7, 8, 9) for c in (7, 8, 9)]


def test_simple_cnn_layout_and_activation():
    net = SimpleCNN()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(1, 1)] * 6 + [(3, 3)]
    assert sum(isinstance(m, torch.nn.Sigmoid) for m in net.modules()) == 6
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 1


def test_unet_matches_the_papers_layer_counts():
    # 19 convolutions and 4 transposed convolutions, ELU activations; batch norm after each of the
    # 18 3x3 convolutions by default, none with norm=None (the paper names no normalisation)
    net = semantic_unet()
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 19
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules()) == 4
    assert any(isinstance(m, torch.nn.ELU) for m in net.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 18
    plain = semantic_unet(norm=None)
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.InstanceNorm2d)) for m in plain.modules())


def test_resnet_fcn_bottleneck_layout():
    net = ResNetFCN(features=(4, 8, 8, 16), blocks=(1, 1, 1, 1), block="bottleneck")
    assert net.encoder.feature_channels == (4, 16, 32, 32, 64)
    with torch.no_grad():
        assert net.eval()(torch.rand(1, 1, 40, 40)).shape == (1, 3, 40, 40)


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="features"):
        SimpleCNN(features=())
    with pytest.raises(ValueError, match="kernel_size"):
        SimpleCNN(kernel_size=2)
    with pytest.raises(ValueError, match="block"):
        ResNetFCN(block="wide")
