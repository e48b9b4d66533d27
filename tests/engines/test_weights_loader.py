"""WeightsLoader: weights_only loading with one-line errors naming the file."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Engine

from cellbundles.engines import WeightsLoader


class _Payload:
    def __reduce__(self):
        return print, ("PAYLOAD RAN",)


def _load(path, network: torch.nn.Module) -> None:
    WeightsLoader(load_path=str(path), load_dict={"model": network})(Engine(lambda engine, batch: None))


def test_loads_matching_weights(tmp_path):
    source, target = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    torch.save({"model": source.state_dict()}, tmp_path / "model.pt")
    _load(tmp_path / "model.pt", target)
    assert torch.equal(source.weight, target.weight)


def test_weights_of_another_network(tmp_path):
    torch.save({"model": torch.nn.Conv2d(1, 4, 3).state_dict()}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"model.pt: the weights do not fit model \(Linear\): 0 missing, 0 unexpected "
                                         r"and 2 differently shaped parameters"):  # fmt: skip
        _load(tmp_path / "model.pt", torch.nn.Linear(3, 2))
    torch.save({"model": torch.nn.Sequential(torch.nn.Linear(3, 2)).state_dict()}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt: the weights do not fit.*2 missing, 2 unexpected"):
        _load(tmp_path / "other.pt", torch.nn.Linear(3, 2))


def test_pickled_code_is_refused_not_run(tmp_path, capfd):
    torch.save({"model": torch.nn.Linear(3, 2).state_dict(), "extra": _Payload()}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"model.pt: refused to load.*GLOBAL print.*weights_only=True"):
        _load(tmp_path / "model.pt", torch.nn.Linear(3, 2))
    assert "PAYLOAD RAN" not in capfd.readouterr().out


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ValueError, match="absent.pt: no such weights file"):
        _load(tmp_path / "absent.pt", torch.nn.Linear(3, 2))
    (tmp_path / "text.pt").write_text("not weights")
    with pytest.raises(ValueError, match="text.pt: cannot read the weights file"):
        _load(tmp_path / "text.pt", torch.nn.Linear(3, 2))
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.pt: cannot read the weights file: it is empty or truncated"):
        _load(tmp_path / "empty.pt", torch.nn.Linear(3, 2))
