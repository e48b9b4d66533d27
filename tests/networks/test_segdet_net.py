from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
from monai.inferers import sliding_window_inference

from cellbundles.networks import SegDetNet, enable_mc_dropout, split_segdet_output

TINY = (4, 8, 8, 16)


def tiny_net(spatial_dims: int = 3, **kwargs) -> SegDetNet:
    torch.manual_seed(0)
    return SegDetNet(spatial_dims=spatial_dims, features=TINY, **kwargs).eval()


@pytest.mark.parametrize(
    "spatial_dims, shape",
    [(3, (2, 1, 16, 16, 16)), (3, (1, 1, 17, 19, 21)), (2, (2, 1, 32, 24)), (2, (1, 1, 29, 31))],
)
def test_output_shape_matches_input(spatial_dims, shape):
    net = tiny_net(spatial_dims)
    with torch.no_grad():
        out = net(torch.rand(shape))
    assert out.shape == (shape[0], 3, *shape[2:])
    seg, density = split_segdet_output(out)
    assert seg.shape[1] == 2 and density.shape[1] == 1
    assert torch.all(density >= 0)


@pytest.mark.parametrize("spatial_dims, volume, roi", [(3, (21, 27, 18), (16, 16, 16)), (2, (45, 37), (32, 32))])
def test_sliding_window_inference_tiles_odd_volumes(spatial_dims, volume, roi):
    net = tiny_net(spatial_dims)
    image = torch.rand(1, 1, *volume)
    with torch.no_grad():
        out = sliding_window_inference(image, roi, 2, net, overlap=0.25)
    assert out.shape == (1, 3, *volume)
    assert torch.isfinite(out).all()


def test_two_channel_input_and_more_classes():
    net = SegDetNet(spatial_dims=2, in_channels=2, seg_channels=3, features=TINY).eval()
    out = net(torch.rand(1, 2, 16, 16))
    assert out.shape == (1, 4, 16, 16)
    seg, density = split_segdet_output(out, seg_channels=3)
    assert seg.shape == (1, 3, 16, 16) and density.shape == (1, 1, 16, 16)


@pytest.mark.parametrize("export", ["script", "trace"])
@pytest.mark.parametrize(
    "head", [{}, {"detection_input": "features", "detection_dilations": (1, 2, 4)}, {"distance_output": True}]
)
def test_torchscript_export_gives_identical_output(export, head, tmp_path):
    net = tiny_net(3, **head)
    example = torch.rand(1, 1, 16, 16, 16)
    exported = torch.jit.script(net) if export == "script" else torch.jit.trace(net, example)
    path = tmp_path / "net.ts"
    torch.jit.save(exported, str(path))
    loaded = torch.jit.load(str(path))
    test_input = torch.rand(2, 1, 16, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(test_input), net(test_input), rtol=1e-5, atol=1e-6)


def test_scripted_network_pads_odd_sizes_like_eager():
    net = tiny_net(2)
    scripted = torch.jit.script(net)
    image = torch.rand(1, 1, 19, 27)
    with torch.no_grad():
        torch.testing.assert_close(scripted(image), net(image), rtol=1e-5, atol=1e-6)


def test_density_activation_choices():
    image = torch.rand(1, 1, 16, 16)
    relu = tiny_net(2)(image)[:, 2]
    assert torch.all(relu >= 0) and torch.any(relu == 0)
    assert torch.all(tiny_net(2, density_activation="softplus")(image)[:, 2] > 0)
    assert torch.any(tiny_net(2, density_activation="identity")(image)[:, 2] < 0)


def test_density_scale_divides_only_the_density():
    image = torch.rand(1, 1, 16, 16)
    plain, scaled = tiny_net(2, density_scale=1.0)(image), tiny_net(2, density_scale=1000.0)(image)
    torch.testing.assert_close(scaled[:, :2], plain[:, :2], rtol=0, atol=0)
    torch.testing.assert_close(scaled[:, 2] * 1000.0, plain[:, 2], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"spatial_dims": 1},
        {"density_scale": 0.0},
        {"features": (4, 8, 16)},
        {"seg_channels": 1},
        {"dropout": 1.0},
        {"density_activation": "sigmoid"},
        {"detection_dilations": (1, 2)},
        {"detection_dilations": (1, 0, 2)},
        {"detection_input": "decoder"},
    ],
)
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        SegDetNet(**kwargs)


def test_split_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match="channels"):
        split_segdet_output(torch.zeros(1, 4, 8, 8), seg_channels=2)


def test_density_gradient_reaches_the_segmentation_stage():
    """The detection stage consumes softmax(S): training D alone also updates the segmentation head."""
    net = tiny_net(3).train()
    out = net(torch.rand(2, 1, 16, 16, 16))
    out[:, 2].sum().backward()
    assert net.segmentation_head.conv.weight.grad.abs().sum() > 0
    assert net.encoder0[0].conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("dilations, reach", [((1, 1, 1), 3), ((1, 2, 4), 7)])
def test_detection_dilations_set_the_receptive_field(dilations, reach):
    """One density voxel depends on the detection input within +-(sum of dilations) voxels, and the
    dilated head loads the weights of the plain one (same parameters)."""
    net = tiny_net(3, detection_dilations=dilations)
    net.load_state_dict(tiny_net(3).state_dict())
    inputs = torch.rand(1, 3, 24, 24, 24, requires_grad=True)
    net.detection_head(inputs)[0, 0, 12, 12, 12].backward()
    seen = inputs.grad.abs().sum(dim=(0, 1)).nonzero()
    assert seen.min(dim=0).values.tolist() == [12 - reach] * 3
    assert seen.max(dim=0).values.tolist() == [12 + reach] * 3


def test_detection_input_features_extends_the_paper_head():
    """With the decoder features as extra inputs, the paper head's weights fill the first input channels, and
    zero weights on the extra channels give the paper network's output; non-zero ones change the density only."""
    paper = tiny_net(3)
    wide = tiny_net(3, detection_input="features")
    state = paper.state_dict()
    first = state["detection_head.0.conv.weight"]
    extra = torch.zeros(first.shape[0], TINY[0], *first.shape[2:])
    wide.load_state_dict({**state, "detection_head.0.conv.weight": torch.cat([first, extra], dim=1)})
    image = torch.rand(1, 1, 16, 16, 16)
    with torch.no_grad():
        assert torch.allclose(wide(image), paper(image))
        wide.detection_head[0].conv.weight[:, 3:] = 0.1
        changed = wide(image)
    reference = paper(image).detach()
    assert torch.allclose(changed[:, :2], reference[:, :2])
    assert not torch.allclose(changed[:, 2:], reference[:, 2:])


def test_distance_output_adds_one_channel_and_leaves_the_others():
    """The distance channel comes last; the paper network's weights load (only the new head is missing) and
    give the same segmentation and density; the split hands out the three parts."""
    paper = tiny_net(3)
    with_distance = tiny_net(3, distance_output=True)
    missing = with_distance.load_state_dict(paper.state_dict(), strict=False).missing_keys
    assert missing and all(key.startswith("distance_head.") for key in missing)
    image = torch.rand(1, 1, 17, 16, 15)
    with torch.no_grad():
        output, reference = with_distance(image), paper(image)
    assert output.shape == (1, 4, 17, 16, 15) and with_distance.out_channels == 4
    torch.testing.assert_close(output[:, :3], reference)
    seg, density, distance = split_segdet_output(output, distance_output=True)
    assert seg.shape[1] == 2 and density.shape[1] == 1 and torch.equal(distance, output[:, 3:])
    with pytest.raises(ValueError, match="distance"):
        split_segdet_output(reference, distance_output=True)


def test_conv_biases_start_at_zero():
    net = SegDetNet(features=TINY)
    biases = [m.bias for m in net.modules() if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)) and m.bias is not None]
    assert biases and all(torch.count_nonzero(b) == 0 for b in biases)


@pytest.mark.parametrize(
    "features, millions",
    [((8, 16, 32, 64), 0.355), ((16, 32, 64, 128), 1.42), ((32, 64, 128, 256), 5.66), ((64, 128, 256, 512), 22.6)],
)
def test_documented_parameter_counts(features, millions):
    count = sum(p.numel() for p in SegDetNet(features=features).parameters())
    assert count / 1e6 == pytest.approx(millions, rel=0.01)


def test_enable_mc_dropout_switches_only_dropout():
    net = SegDetNet(features=TINY).train()
    enable_mc_dropout(net)
    dropouts = [m for m in net.modules() if isinstance(m, nn.Dropout)]
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm3d)]
    assert len(dropouts) == 2 and all(m.training for m in dropouts)
    assert norms and not any(m.training for m in norms)
    image = torch.rand(1, 1, 16, 16, 16)
    with torch.no_grad():
        assert not torch.equal(net(image), net(image))


def test_monai_verify_net_in_out(tmp_path):
    """The shapes declared in a bundle's ``network_data_format`` pass MONAI's own check."""
    from monai.bundle import verify_net_in_out

    meta = {
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "image",
                    "format": "magnitude",
                    "num_channels": 1,
                    "spatial_shape": ["8*n", "8*n", "8*n"],
                    "dtype": "float32",
                    "value_range": [0, 1],
                    "is_patch_data": True,
                    "channel_def": {"0": "image"},
                }
            },
            "outputs": {
                "pred": {
                    "type": "image",
                    "format": "segmentation",
                    "num_channels": 3,
                    "spatial_shape": ["8*n", "8*n", "8*n"],
                    "dtype": "float32",
                    "value_range": [],
                    "is_patch_data": True,
                    "channel_def": {"0": "background", "1": "nucleus", "2": "density"},
                }
            },
        }
    }
    config = {"network_def": {"_target_": "cellbundles.networks.SegDetNet", "features": list(TINY)}}
    meta_file, config_file = tmp_path / "metadata.json", tmp_path / "inference.json"
    meta_file.write_text(json.dumps(meta))
    config_file.write_text(json.dumps(config))
    verify_net_in_out(
        net_id="network_def", meta_file=str(meta_file), config_file=str(config_file), n=2, device="cpu"
    )
