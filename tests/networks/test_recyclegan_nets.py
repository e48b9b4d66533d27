"""Shapes, ranges and TorchScript of the Recycle-GAN networks of seed 001 (issue 15, item 2)."""

from __future__ import annotations

import pytest
import torch

from cellbundles.networks import PatchGANDiscriminator, ResNetGenerator, SlicePredictor, SliceWise


@pytest.mark.parametrize("shape", [(2, 1, 32, 48), (1, 1, 37, 53)])
def test_generator_keeps_the_slice_shape_in_tanh_range(shape):
    generator = ResNetGenerator(features=4)
    output = generator(10 * torch.randn(shape))
    assert output.shape == shape and output.abs().max() <= 1.0
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in generator.modules()) == 2 * 6 + 5


def test_generator_has_six_residual_blocks_and_the_papers_width():
    generator = ResNetGenerator(features=64)
    assert sum(type(m).__name__ == "_ResidualBlock" for m in generator.modules()) == 6
    assert sum(p.numel() for p in generator.parameters()) == pytest.approx(7.83e6, rel=0.01)


def test_generator_3d_and_torchscript():
    volume = torch.randn(1, 2, 8, 12, 12)
    assert ResNetGenerator(spatial_dims=3, in_channels=2, out_channels=3, features=2, num_blocks=1)(volume).shape == (
        1, 3, 8, 12, 12
    )  # fmt: skip
    generator = ResNetGenerator(features=4).eval()
    scripted = torch.jit.script(generator)
    x = torch.randn(1, 1, 30, 34)
    torch.testing.assert_close(scripted(x), generator(x))


@pytest.mark.parametrize("shape", [(2, 10, 32, 32), (1, 10, 29, 41)])
def test_predictor_maps_s_slices_to_the_next(shape):
    predictor = SlicePredictor(num_slices=10, features=(4, 8, 16))
    output = predictor(torch.randn(shape))
    assert output.shape == (shape[0], 1, *shape[2:]) and output.abs().max() <= 1.0
    with pytest.raises(RuntimeError):
        predictor(torch.randn(1, 9, 32, 32))


@pytest.mark.parametrize("size,expected", [(70, 6), (64, 6), (128, 14)])
def test_patchgan_scores_patches(size, expected):
    discriminator = PatchGANDiscriminator(features=4)
    assert discriminator(torch.randn(2, 1, size, size)).shape == (2, 1, expected, expected)


def test_slicewise_applies_the_generator_to_every_z_slice():
    generator = ResNetGenerator(features=4).eval()
    volume = torch.randn(2, 1, 5, 20, 24)
    output = SliceWise(generator)(volume)
    assert output.shape == (2, 1, 5, 20, 24)
    torch.testing.assert_close(output[1, :, 3], generator(volume[1:2, :, 3])[0])
    scripted = torch.jit.script(SliceWise(generator))
    torch.testing.assert_close(scripted(volume), output)
