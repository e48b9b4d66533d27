"""``train.json`` of every bundle: starting from pretrained weights (``--pretrained_weights``) and resuming."""

from __future__ import annotations

from pathlib import Path

import pytest
from monai.bundle import ConfigParser

REPO = Path(__file__).resolve().parents[2]
BUNDLES = sorted(path.parents[1].name for path in (REPO / "bundles").glob("*/configs/train.json"))


def _pretrained_loader(bundle: str, ckpt_dir: Path, pretrained_weights: str):
    """The parsed ``train#pretrained`` (a ``CheckpointLoader``, or None when disabled)."""
    parser = ConfigParser()
    parser.read_config(str(REPO / "bundles" / bundle / "configs" / "train.json"))
    parser.update({"bundle_root": str(REPO / "bundles" / bundle), "ckpt_dir": str(ckpt_dir)})
    parser.update({"pretrained_weights": pretrained_weights, "device": "$torch.device('cpu')"})
    return parser.get_parsed_content("train#pretrained")


def test_every_bundle_has_a_train_config():
    assert {"nuclei_resunet_2d", "nuclei_semantic_2d", "nuclei_segdet_3d"} <= set(BUNDLES)


@pytest.mark.parametrize("bundle", BUNDLES)
def test_training_starts_from_scratch_by_default(bundle, tmp_path):
    assert _pretrained_loader(bundle, tmp_path, "") is None


@pytest.mark.parametrize("bundle", BUNDLES)
def test_pretrained_weights_load_into_the_network_when_there_is_no_checkpoint(bundle, tmp_path):
    weights = str(tmp_path / "weights.pt")
    loader = _pretrained_loader(bundle, tmp_path, weights)
    assert loader is not None
    assert loader.load_path == weights
    assert list(loader.load_dict) == ["model"]


@pytest.mark.parametrize("bundle", BUNDLES)
def test_a_checkpoint_to_resume_from_wins_over_pretrained_weights(bundle, tmp_path):
    (tmp_path / "checkpoint_epoch=3.pt").write_bytes(b"")
    assert _pretrained_loader(bundle, tmp_path, str(tmp_path / "weights.pt")) is None
