from __future__ import annotations

import numpy as np
import pytest
import torch

from cellbundles.utils import spacing_array, to_numpy


def test_spacing_array_repeats_one_value_and_defaults_to_voxel_units():
    np.testing.assert_array_equal(spacing_array(0.5, 3), [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(spacing_array([2, 1], 2), [2.0, 1.0])
    np.testing.assert_array_equal(spacing_array(None, 2), [1.0, 1.0])
    assert spacing_array((1, 2, 3), 3).dtype == np.float64


@pytest.mark.parametrize("bad", [(1.0, 2.0), (1.0, -1.0, 1.0), (0.0,), (np.inf, 1.0, 1.0), (np.nan,)])
def test_spacing_array_rejects_wrong_lengths_and_non_positive_values(bad):
    with pytest.raises(ValueError, match="input_spacing must hold 1 or 3 positive values"):
        spacing_array(bad, 3, name="input_spacing")


def test_to_numpy_reads_tensors_and_arrays():
    np.testing.assert_array_equal(to_numpy(torch.ones(2, requires_grad=True)), [1.0, 1.0])
    np.testing.assert_array_equal(to_numpy([1, 2]), [1, 2])

