"""Monte-Carlo dropout switch: dropout layers active, everything else in evaluation mode."""

from __future__ import annotations

import torch.nn as nn

__all__ = ["enable_mc_dropout", "is_dropout"]


def is_dropout(module: nn.Module) -> bool:
    """Whether ``module`` is a PyTorch dropout layer (``nn.Dropout``, ``nn.Dropout2d/3d``, alpha dropout, ...)."""
    return isinstance(module, nn.modules.dropout._DropoutNd)


def enable_mc_dropout(model: nn.Module) -> nn.Module:
    """Put ``model`` in evaluation mode except its dropout layers, which sample new masks at every call.

    This is test-time (Monte-Carlo) dropout (Gal and Ghahramani 2016, reference [4] of seed 000):
    batch normalisation keeps its running statistics while dropout stays stochastic.

    Args:
        model: the network; changed in place.

    Returns:
        ``model``, for chaining.
    """
    model.eval()
    for module in model.modules():
        if is_dropout(module):
            module.train()
    return model
