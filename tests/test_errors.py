"""cellbundles.errors: the cause of a failed run, under MONAI's wrappers, on the last line."""

from __future__ import annotations

import subprocess
import sys

from cellbundles.errors import PREFIX, cause_line, root_cause


def _wrapped(error: Exception) -> RuntimeError:
    """``error`` wrapped as ``apply_transform`` and then ``ConfigExpression`` wrap it."""
    try:
        try:
            raise RuntimeError("applying transform <LoadImaged>") from error
        except RuntimeError as transform_error:
            raise RuntimeError("Failed to evaluate ConfigExpression") from transform_error
    except RuntimeError as outer:
        return outer


def test_root_cause_skips_the_wrappers_only():
    cause = ValueError("x.tif: the image is empty.")
    assert root_cause(_wrapped(cause)) is cause
    own = RuntimeError("Error(s) in loading state_dict")
    assert root_cause(own) is own


def test_cause_line_is_one_line_and_names_unexpected_types():
    assert cause_line(_wrapped(ValueError("x.tif:\n  bad"))) == PREFIX + "x.tif: bad"
    assert cause_line(_wrapped(FileNotFoundError("y.tif: no such file."))) == PREFIX + "y.tif: no such file."
    assert cause_line(ZeroDivisionError("division by zero")) == PREFIX + "ZeroDivisionError: division by zero"


def test_a_failed_run_ends_with_the_cause_and_a_non_zero_exit():
    code = (
        "import cellbundles.errors as e; e.report_cause_last(); print('a log line')\n"
        "try:\n    raise ValueError('x.tif: truncated')\n"
        "except ValueError as v:\n    raise RuntimeError('Failed to evaluate ConfigExpression') from v\n"
    )
    done = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert done.returncode == 1
    lines = done.stdout.rstrip().splitlines()
    assert lines[0] == "a log line" and "Traceback" in done.stdout
    assert lines[-1] == "cellbundles: error: x.tif: truncated"
