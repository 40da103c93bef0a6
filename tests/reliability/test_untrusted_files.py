"""Kept from before issue 11: YAML files (configs, data yamls) never run code through tags.

(Checkpoints holding pickled objects are refused: ``tests/engine/test_runner.py::
test_weights_only_refuses_pickled_objects``.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from detreg.errors import DetregError
from detreg.launch import prepare_config

PAYLOAD = '!!python/object/apply:os.system ["touch {marker}"]'


def test_yaml_tags_in_a_config_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"model: {PAYLOAD.format(marker=marker)}\n")
    with pytest.raises(DetregError, match=r"cfg.yaml:1: invalid YAML: could not determine a constructor"):
        prepare_config(cfg)
    assert not marker.exists()


def test_yaml_tags_in_a_data_yaml_are_refused(tmp_path: Path, toy_config) -> None:
    marker = tmp_path / "ran"
    data = tmp_path / "data.yaml"
    data.write_text(f"path: {tmp_path}\ntrain: {PAYLOAD.format(marker=marker)}\nnames: [a]\n")
    with pytest.raises(DetregError, match="data.yaml"):
        prepare_config(toy_config(), [f"data.source={data}"])
    assert not marker.exists()
