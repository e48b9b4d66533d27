"""The shipped ``models/model.pt`` of every bundle: loads strictly into the network its inference config
builds by default, and stays under the MONAI model zoo's 25 MB limit for files kept in the repository."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

BUNDLES = Path(__file__).resolve().parents[2] / "bundles"
SHIPPED = sorted(path.parents[1].name for path in BUNDLES.glob("*/models/model.pt"))
MODEL_ZOO_LIMIT_BYTES = 25 * 1024 * 1024


def test_every_bundle_ships_weights():
    assert SHIPPED == [
        "cells_fpf_2d", "nuclei_maskrcnn_2d", "nuclei_recyclegan_3d", "nuclei_resunet_2d", "nuclei_segdet_3d",
        "nuclei_semantic_2d", "nuclei_shape_3d",
    ]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_load_into_the_default_network(name):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(BUNDLES / name / "configs" / "inference.json"))
    network = parser.get_parsed_content("network_def")
    state = torch.load(BUNDLES / name / "models" / "model.pt", map_location="cpu", weights_only=True)
    network.load_state_dict(state, strict=True)
    assert all(torch.isfinite(p).all() for p in network.parameters())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_fit_the_model_zoo_file_limit(name):
    assert (BUNDLES / name / "models" / "model.pt").stat().st_size < MODEL_ZOO_LIMIT_BYTES
