"""The last line of a failed bundle run: the cause, not MONAI's wrapper around it.

MONAI wraps an error raised inside a config expression or a transform in a ``RuntimeError`` ("Failed to
evaluate ConfigExpression ...", "applying transform ..."), so the last line of Python's traceback names the
wrapper and the cause sits many lines up. The bundles call :func:`report_cause_last` first in their
``initialize`` section; a run that fails then ends with ``cellbundles: error: <file>: <cause>``::

    "initialize": ["$cellbundles.errors.report_cause_last()", ...]
"""

from __future__ import annotations

import sys
from types import TracebackType

__all__ = ["PREFIX", "cause_line", "report_cause_last", "root_cause"]

PREFIX = "cellbundles: error: "


def root_cause(error: BaseException) -> BaseException:
    """The error under MONAI's wrappers: follows ``__cause__`` through plain ``RuntimeError``s raised from another
    error (what ``ConfigExpression``, ``ConfigComponent`` and ``apply_transform`` raise)."""
    while type(error) is RuntimeError and error.__cause__ is not None:
        error = error.__cause__
    return error


def cause_line(error: BaseException) -> str:
    """``cellbundles: error: <message>`` of the root cause, on one line; the type is named unless it is a
    ``ValueError`` (bad input, whose message names the file) or an ``OSError``."""
    cause = root_cause(error)
    message = " ".join(str(cause).split()) or type(cause).__name__
    return PREFIX + (message if isinstance(cause, (ValueError, OSError)) else f"{type(cause).__name__}: {message}")


def _excepthook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    sys.stdout.flush()  # log lines go to stdout: they must come before the traceback and the cause
    sys.__excepthook__(kind, error, trace)
    if not isinstance(error, KeyboardInterrupt):
        print(cause_line(error), file=sys.stderr, flush=True)


def report_cause_last() -> None:
    """Make an uncaught error end the output with :func:`cause_line`, after Python's usual traceback."""
    sys.excepthook = _excepthook
