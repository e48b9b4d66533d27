"""Ignite trainer of the Recycle-GAN along z of seed 001, and a handler that saves one sample slice per epoch.

References:
    - Seed 001, section 2.1, Eq. 4 (see :mod:`cellbundles.losses.recyclegan`).
    - Bansal et al., "Recycle-GAN: Unsupervised Video Retargeting", ECCV 2018: every iteration makes one Adam step on
      the generators and predictors together, then one on the discriminators with the fakes of that step detached.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events
from monai.engines import Trainer

from cellbundles.io import write_image
from cellbundles.losses import recyclegan as gan

__all__ = ["RecycleGANImageSaver", "RecycleGANTrainer"]


class RecycleGANTrainer(Trainer):
    """Recycle-GAN over the z axis of volumes (seed 001, Eq. 4): domain A is the blurred I_binary of the phantoms,
    domain B real microscopy; the "frames" of the original method are ``xy`` slices.

    Each batch holds an unpaired chunk of ``S + 1`` consecutive slices of each domain, ``(B, 1, S + 1, H, W)``
    under ``phantom_key`` and ``real_key``, scaled to ``[-1, 1]``. One iteration:

    1. generator step (G1, G2, P1, P2 by ``g_optimizer``): with ``a`` the phantom slices, ``b`` the real ones,
       ``fake_b = G1(a)``, ``fake_a = G2(b)`` slice by slice, ``pred_b = P2(fake_b[:S])``,
       ``pred_a = P1(fake_a[:S])``:

       - ``L_GAN(G1, D2) = lsgan(D2(fake_b), real) + lsgan(D2(pred_b), real)``, ``L_GAN(G2, D1)`` likewise;
       - ``l1 |a[S] - G2(pred_b)|`` (recycle G1, G2, P2) and ``l2 |b[S] - G1(pred_a)|`` (recycle G2, G1, P1);
       - ``l3 |a[S] - P1(a[:S])|`` and ``l4 |b[S] - P2(b[:S])|`` (recurrent);
       - ``l5 contour(P1(G2(fake_b[:S])), a[S])`` (Eq. 5);

    2. discriminator step (D1, D2 by ``d_optimizer``): ``0.5 (lsgan(D(real), real) + lsgan(D(fake), fake))`` with
       the fakes of step 1 (every translated slice and the predicted one) detached.

    ``engine.state.output`` holds ``"loss"``: a dict of floats (``g``, ``d``, each term), and one slice of the last
    chunk (``"phantom"``, ``"generated"`` = G1 of it, ``"real"``), ``(H, W)`` tensors in ``[-1, 1]``.

    Args:
        device: where the networks live.
        max_epochs: epochs to run.
        train_data_loader: yields dicts with ``phantom_key`` and ``real_key``.
        g1, g2: one-slice generators A -> B and B -> A.
        p1, p2: predictors of domains A and B, ``(B, S, H, W)`` -> ``(B, 1, H, W)``.
        d1, d2: one-slice discriminators of domains A and B.
        g_optimizer: optimiser of the parameters of G1, G2, P1 and P2.
        d_optimizer: optimiser of the parameters of D1 and D2.
        lambdas: ``(l1, ..., l5)`` of Eq. 4; default the paper's ``(1, 10, 10, 10, 0.1)``.
        phantom_key, real_key: batch keys of the two domains.
        epoch_length: iterations per epoch (default: the loader's length).
        train_handlers: Ignite / MONAI handlers to attach.
    """

    def __init__(
        self,
        device: torch.device | str,
        max_epochs: int,
        train_data_loader: Iterable,
        g1: torch.nn.Module,
        g2: torch.nn.Module,
        p1: torch.nn.Module,
        p2: torch.nn.Module,
        d1: torch.nn.Module,
        d2: torch.nn.Module,
        g_optimizer: torch.optim.Optimizer,
        d_optimizer: torch.optim.Optimizer,
        lambdas: Sequence[float] = gan.RECYCLE_GAN_LAMBDAS,
        phantom_key: str = "phantom",
        real_key: str = "image",
        epoch_length: int | None = None,
        train_handlers: Sequence | None = None,
    ) -> None:
        if len(lambdas) != 5:
            raise ValueError(f"RecycleGANTrainer: lambdas must hold the 5 weights of Eq. 4, got {lambdas}.")
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            data_loader=train_data_loader,
            epoch_length=epoch_length,
            handlers=train_handlers,
            decollate=False,
        )
        self.g1, self.g2, self.p1, self.p2, self.d1, self.d2 = g1, g2, p1, p2, d1, d2
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.lambdas = tuple(float(value) for value in lambdas)
        self.phantom_key, self.real_key = phantom_key, real_key

    def _chunk(self, batch: dict, key: str) -> torch.Tensor:
        """``(B, 1, S + 1, H, W)`` of ``batch[key]`` as ``(B, S + 1, H, W)`` on the device."""
        chunk = torch.as_tensor(batch[key]).to(self.state.device)
        if chunk.ndim != 5 or chunk.shape[1] != 1 or chunk.shape[2] < 2:
            shape = tuple(chunk.shape)
            raise ValueError(f"{key}: expected (B, 1, S + 1, H, W) chunks of consecutive slices, got {shape}.")
        return chunk[:, 0].float()

    def _iteration(self, engine: Engine, batchdata: dict) -> dict:
        a, b = self._chunk(batchdata, self.phantom_key), self._chunk(batchdata, self.real_key)
        if a.shape[1] != b.shape[1]:
            raise ValueError(f"phantom and real chunks hold {a.shape[1]} and {b.shape[1]} slices; they must match.")
        l1, l2, l3, l4, l5 = self.lambdas
        for network in (self.g1, self.g2, self.p1, self.p2, self.d1, self.d2):
            network.train()

        self.d1.requires_grad_(False)
        self.d2.requires_grad_(False)
        self.g_optimizer.zero_grad(set_to_none=True)
        fake_b, fake_a = gan.slicewise(self.g1, a), gan.slicewise(self.g2, b)
        pred_b, pred_a = self.p2(fake_b[:, :-1]), self.p1(fake_a[:, :-1])
        terms = {
            "gan_g1": gan.lsgan_loss(gan.slicewise(self.d2, fake_b), True) + gan.lsgan_loss(self.d2(pred_b), True),
            "gan_g2": gan.lsgan_loss(gan.slicewise(self.d1, fake_a), True) + gan.lsgan_loss(self.d1(pred_a), True),
            "recycle_a": gan.recycle_loss(self.g1, self.g2, self.p2, a, translated=fake_b[:, :-1]),
            "recycle_b": gan.recycle_loss(self.g2, self.g1, self.p1, b, translated=fake_a[:, :-1]),
            "recurrent_p1": gan.recurrent_loss(self.p1, a),
            "recurrent_p2": gan.recurrent_loss(self.p2, b),
            "contour": gan.contour_loss(self.p1(gan.slicewise(self.g2, fake_b[:, :-1])), a[:, -1:]),
        }
        g_loss = (
            terms["gan_g1"] + terms["gan_g2"] + l1 * terms["recycle_a"] + l2 * terms["recycle_b"]
            + l3 * terms["recurrent_p1"] + l4 * terms["recurrent_p2"] + l5 * terms["contour"]
        )  # fmt: skip
        g_loss.backward()
        self.g_optimizer.step()

        self.d1.requires_grad_(True)
        self.d2.requires_grad_(True)
        self.d_optimizer.zero_grad(set_to_none=True)
        terms["d1"] = self._discriminator_loss(self.d1, a, fake_a.detach(), pred_a.detach())
        terms["d2"] = self._discriminator_loss(self.d2, b, fake_b.detach(), pred_b.detach())
        d_loss = terms["d1"] + terms["d2"]
        d_loss.backward()
        self.d_optimizer.step()

        losses = {"g": g_loss.item(), "d": d_loss.item(), **{name: value.item() for name, value in terms.items()}}
        middle = a.shape[1] // 2
        return {
            "loss": losses,
            "phantom": a[-1, middle].detach().cpu(),
            "generated": fake_b[-1, middle].detach().cpu(),
            "real": b[-1, middle].detach().cpu(),
        }

    @staticmethod
    def _discriminator_loss(
        discriminator: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, predicted: torch.Tensor
    ) -> torch.Tensor:
        fake_scores = torch.cat([gan.slicewise(discriminator, fake).flatten(), discriminator(predicted).flatten()])
        return gan.discriminator_loss(gan.slicewise(discriminator, real), fake_scores)


class RecycleGANImageSaver:
    """Save ``<output_dir>/epoch_<NNNN>.png`` at the end of every epoch: the phantom slice, its G1 translation and a
    real slice side by side (the last iteration's ``"phantom"``, ``"generated"`` and ``"real"`` outputs of
    :class:`RecycleGANTrainer`), each mapped from ``[-1, 1]`` to 0-255.

    Args:
        output_dir: folder of the PNG files (created if missing).
        output_transform: maps ``engine.state.output`` to the three ``(H, W)`` slices.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        output_transform: Callable[[dict], Sequence[torch.Tensor]] = lambda out: (
            out["phantom"], out["generated"], out["real"]
        ),
    ) -> None:
        self.output_dir = Path(output_dir)
        self.output_transform = output_transform

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        slices = self.output_transform(engine.state.output)
        panels = [np.asarray(torch.as_tensor(s).detach().cpu().float()) for s in slices]
        height = max(panel.shape[0] for panel in panels)
        row = []
        for panel in panels:
            pixels = np.clip(np.round((panel + 1.0) * 127.5), 0, 255).astype(np.uint8)
            row += [np.pad(pixels, ((0, height - pixels.shape[0]), (0, 0))), np.full((height, 2), 255, np.uint8)]
        write_image(self.output_dir / f"epoch_{engine.state.epoch:04d}.png", np.concatenate(row[:-1], axis=1))
