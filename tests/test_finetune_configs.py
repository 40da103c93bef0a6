"""configs/finetune/: valid with train.pretrained, and refused (one clear line) without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from detreg.errors import ConfigError
from detreg.launch import prepare_config


@pytest.mark.parametrize("name", ["finetune/yolov6n_finetune", "finetune/yolov6n_cot"])
def test_finetune_configs_need_and_take_train_pretrained(name: str, tiny_data: Path) -> None:
    cfg = prepare_config(name, ["train.pretrained=base.pt"], data=tiny_data)
    assert cfg.data["hooks"]["pretrained"]["type"] == "LoadWeightsHook"
    assert cfg.data["optimizer"]["lr"] == 0.0032
    with pytest.raises(ConfigError, match=r"hooks.pretrained: LoadWeightsHook needs train.pretrained"):
        prepare_config(name, [], data=tiny_data)
