"""The Recycle-GAN trainer of seed 001: one iteration updates every network, checkpoints resume (issue 15, item 3)."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Events
from monai.handlers import CheckpointLoader, CheckpointSaver

from cellbundles.engines import RecycleGANImageSaver, RecycleGANTrainer
from cellbundles.io import read_image
from cellbundles.networks import PatchGANDiscriminator, ResNetGenerator, SlicePredictor

S = 3
NAMES = ("g1", "g2", "p1", "p2", "d1", "d2")


def _loader(n: int = 2) -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    return [
        {"phantom": torch.rand(1, 1, S + 1, 24, 24, generator=generator) * 2 - 1,
         "image": torch.rand(1, 1, S + 1, 24, 24, generator=generator) * 2 - 1}
        for _ in range(n)
    ]  # fmt: skip


def _trainer(max_epochs: int, handlers=()) -> RecycleGANTrainer:
    torch.manual_seed(0)
    nets = {
        "g1": ResNetGenerator(features=2, num_blocks=1), "g2": ResNetGenerator(features=2, num_blocks=1),
        "p1": SlicePredictor(num_slices=S, features=(2, 4)), "p2": SlicePredictor(num_slices=S, features=(2, 4)),
        "d1": PatchGANDiscriminator(features=2), "d2": PatchGANDiscriminator(features=2),
    }  # fmt: skip
    g_params = [p for name in ("g1", "g2", "p1", "p2") for p in nets[name].parameters()]
    d_params = [p for name in ("d1", "d2") for p in nets[name].parameters()]
    return RecycleGANTrainer(
        device="cpu",
        max_epochs=max_epochs,
        train_data_loader=_loader(),
        g_optimizer=torch.optim.Adam(g_params, 1e-3, betas=(0.5, 0.999)),
        d_optimizer=torch.optim.Adam(d_params, 1e-3, betas=(0.5, 0.999)),
        train_handlers=list(handlers),
        **nets,
    )


def _checkpoint(trainer: RecycleGANTrainer) -> dict:
    return {**{name: getattr(trainer, name) for name in NAMES}, "g_opt": trainer.g_optimizer,
            "d_opt": trainer.d_optimizer, "trainer": trainer}  # fmt: skip


def test_one_iteration_updates_all_six_networks_and_reports_every_term():
    trainer = _trainer(1)
    before = {name: [p.detach().clone() for p in getattr(trainer, name).parameters()] for name in NAMES}
    trainer.run()
    for name in NAMES:
        after = list(getattr(trainer, name).parameters())
        assert any(not torch.equal(b, a) for b, a in zip(before[name], after)), f"{name} did not change"
    losses = trainer.state.output["loss"]
    assert set(losses) == {"g", "d", "gan_g1", "gan_g2", "recycle_a", "recycle_b", "recurrent_p1", "recurrent_p2",
                           "contour", "d1", "d2"}  # fmt: skip
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    weighted = (losses["gan_g1"] + losses["gan_g2"] + 1 * losses["recycle_a"] + 10 * losses["recycle_b"]
                + 10 * losses["recurrent_p1"] + 10 * losses["recurrent_p2"] + 0.1 * losses["contour"])  # fmt: skip
    assert losses["g"] == pytest.approx(weighted, rel=1e-5)
    assert trainer.state.output["generated"].shape == (24, 24)


def test_checkpoint_of_all_networks_and_optimisers_resumes(tmp_path):
    first = _trainer(1)
    CheckpointSaver(str(tmp_path), _checkpoint(first), save_final=True, final_filename="last.pt").attach(first)
    first.run()
    second = _trainer(2)
    CheckpointLoader(str(tmp_path / "last.pt"), _checkpoint(second), map_location="cpu").attach(second)
    for name in NAMES:  # differently initialised before loading
        for parameter in getattr(second, name).parameters():
            torch.nn.init.zeros_(parameter)
    saved = {name: {k: v.clone() for k, v in getattr(first, name).state_dict().items()} for name in NAMES}
    loaded = {}
    second.add_event_handler(
        Events.STARTED,
        lambda e: loaded.update({n: {k: v.clone() for k, v in getattr(e, n).state_dict().items()} for n in NAMES}),
    )
    second.run()
    for name in NAMES:
        for key, value in saved[name].items():
            torch.testing.assert_close(loaded[name][key], value, msg=f"{name}.{key}")
    assert second.state.epoch == 2 and second.state.iteration == 4  # resumed after epoch 1, not restarted


def test_png_of_phantom_generated_and_real_slices_per_epoch(tmp_path):
    trainer = _trainer(2, [RecycleGANImageSaver(tmp_path / "samples")])
    trainer.run()
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["epoch_0001.png", "epoch_0002.png"]
    image, _ = read_image(tmp_path / "samples" / "epoch_0002.png")
    assert image.shape == (24, 3 * 24 + 2 * 2) and image.dtype.name == "uint8"


def test_chunks_must_have_the_same_number_of_slices():
    trainer = _trainer(1)
    trainer.data_loader = [{"phantom": torch.zeros(1, 1, S + 1, 24, 24), "image": torch.zeros(1, 1, S, 24, 24)}]
    with pytest.raises(ValueError, match="must match"):
        trainer.run()
