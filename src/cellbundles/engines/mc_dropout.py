"""Monte-Carlo (test-time) dropout inference (seed 000, section 3.3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
from monai.inferers import Inferer, SimpleInferer

from cellbundles.networks.dropout import enable_mc_dropout, is_dropout

__all__ = ["MCDropoutInferer"]


class MCDropoutInferer(Inferer):
    """Run a network ``num_passes`` times with only its dropout layers active (and, optionally, once without dropout).

    Each pass goes through ``inferer`` (e.g. a ``SlidingWindowInferer``, so any volume is tiled; every
    window of every pass draws its own dropout masks). Batch normalisation stays in evaluation
    mode throughout, gradients are not recorded, and the training/evaluation mode of every module
    is restored afterwards, so the inferer can be used inside a MONAI evaluator.

    Memory: ``N`` full-volume outputs can be large (100 passes of a 512x512x100 float volume with
    three channels are 30 GB), so ``pass_transform`` reduces each pass as soon as it is computed;
    :class:`cellbundles.postprocess.BatchDensityPeaks` keeps only its peak coordinates, which is
    all :func:`cellbundles.postprocess.mc_uncertainty_radii` needs. Without ``pass_transform``
    the per-pass outputs are kept, detached and moved to the CPU.

    Args:
        num_passes: number of dropout passes (paper: 100).
        inferer: inferer used for every pass; ``SimpleInferer()`` if None.
        pass_transform: applied to the output of each dropout pass; its results are returned.
        seed: seed of the dropout masks (the global torch random state is restored afterwards);
            None: use the current random state.
        reference_pass: also run the network once without dropout and return that output as ``"pred"``;
            False when the caller already has that prediction (e.g. an evaluator's own forward pass),
            which saves one full pass.

    Returns (``__call__``):
        ``{"pred": output without dropout (only with reference_pass), "mc_passes": list of num_passes
        per-pass results}``.
    """

    def __init__(
        self,
        num_passes: int = 100,
        inferer: Inferer | None = None,
        pass_transform: Callable[[torch.Tensor], Any] | None = None,
        seed: int | None = None,
        reference_pass: bool = True,
    ) -> None:
        super().__init__()
        if num_passes < 1:
            raise ValueError(f"num_passes must be at least 1, got {num_passes}.")
        self.num_passes = num_passes
        self.inferer = SimpleInferer() if inferer is None else inferer
        self.pass_transform = pass_transform
        self.seed = seed
        self.reference_pass = reference_pass

    def _reduce(self, output: torch.Tensor) -> Any:
        if self.pass_transform is not None:
            return self.pass_transform(output)
        return output.detach().cpu()

    def __call__(self, inputs: torch.Tensor, network: nn.Module, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """
        Args:
            inputs: ``(B, C, [D,] H, W)`` images.
            network: the model; it must contain dropout layers.
            args: passed to ``inferer``.
            kwargs: passed to ``inferer``.
        """
        if not any(is_dropout(module) for module in network.modules()):
            raise ValueError(
                f"{type(network).__name__} has no dropout layer: Monte-Carlo dropout passes would all be equal."
            )
        modes = [(module, module.training) for module in network.modules()]
        outputs = {}
        try:
            with torch.no_grad():
                network.eval()
                if self.reference_pass:
                    outputs["pred"] = self.inferer(inputs, network, *args, **kwargs)
                enable_mc_dropout(network)
                with torch.random.fork_rng(enabled=self.seed is not None):
                    if self.seed is not None:
                        torch.manual_seed(self.seed)
                    outputs["mc_passes"] = [
                        self._reduce(self.inferer(inputs, network, *args, **kwargs)) for _ in range(self.num_passes)
                    ]
        finally:
            for module, training in modes:
                module.training = training
        return outputs
