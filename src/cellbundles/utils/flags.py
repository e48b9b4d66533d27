"""On/off options of the bundles as they arrive from the command line."""

from __future__ import annotations

__all__ = ["as_flag"]

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def as_flag(value: object, name: str) -> bool:
    """A bundle's on/off config value as a ``bool``.

    ``python -m monai.bundle run ... --fill_holes false`` hands the config the *string* ``"false"`` (the command line
    parser reads only Python's ``False`` as a bool), and a non-empty string counts as true: the option would do the
    opposite of what was asked. Configs therefore read their flags through this function.

    Args:
        value: ``True`` / ``False``, 0 / 1, or one of the strings true/yes/on/1 and false/no/off/0 (any case).
        name: the config id, for the error message.

    Raises:
        ValueError: any other value, naming the option.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"--{name} must be true or false, got {value!r}.")
