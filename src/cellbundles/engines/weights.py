"""Loading a weights file into a bundle's network, with errors that name the file and the cause."""

from __future__ import annotations

import pickle
import re

from ignite.engine import Engine
from monai.handlers import CheckpointLoader

__all__ = ["WeightsLoader"]


class WeightsLoader(CheckpointLoader):
    """MONAI's ``CheckpointLoader`` (``torch.load(weights_only=True)``: a file that carries pickled code is
    refused, never run), with one-line errors.

    ``torch`` explains a refused file, or weights that do not fit the network, over many lines (every
    missing and unexpected parameter); this handler raises a ``ValueError("<file>: <cause>")`` instead,
    chained to the original error.

    Args: as ``monai.handlers.CheckpointLoader``.
    """

    def __call__(self, engine: Engine) -> None:
        try:
            super().__call__(engine)
        except FileNotFoundError as error:
            raise ValueError(f"{self.load_path}: no such weights file.") from error
        except EOFError as error:
            raise ValueError(f"{self.load_path}: cannot read the weights file: it is empty or truncated.") from error
        except pickle.UnpicklingError as error:
            refused = re.search(r"Unsupported global: GLOBAL \S+", str(error))
            if refused is None:
                raise ValueError(f"{self.load_path}: cannot read the weights file: {_first_line(error)}") from error
            raise ValueError(
                f"{self.load_path}: refused to load: the file carries pickled code or objects other than weights "
                f"({refused.group(0)}), which torch.load(weights_only=True) does not run."
            ) from error
        except (RuntimeError, KeyError) as error:
            mismatch = _mismatch(error)
            if mismatch is None:
                raise ValueError(f"{self.load_path}: cannot read the weights file: {_first_line(error)}") from error
            targets = ", ".join(f"{key} ({type(value).__name__})" for key, value in self.load_dict.items())
            raise ValueError(
                f"{self.load_path}: the weights do not fit {targets}: {mismatch} "
                "(weights of another network, or of other network settings?)."
            ) from error


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _mismatch(error: BaseException) -> str | None:
    """How many parameters ``load_state_dict`` found missing, unexpected or of another shape; None when the
    error is not about that."""
    lines = [line.strip() for line in str(error).splitlines()]
    missing = sum(len(re.findall(r'"[^"]+"', line)) for line in lines if line.startswith("Missing key"))
    unexpected = sum(len(re.findall(r'"[^"]+"', line)) for line in lines if line.startswith("Unexpected key"))
    reshaped = sum(line.startswith("size mismatch") for line in lines)
    if not missing + unexpected + reshaped:
        return None
    return f"{missing} missing, {unexpected} unexpected and {reshaped} differently shaped parameters"
