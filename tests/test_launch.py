"""launch: config lookup by name, data sources, the built-in synthetic data."""

from __future__ import annotations

from pathlib import Path

import pytest

from detreg.errors import DetregError
from detreg.launch import find_config, prepare_config


def test_find_config_by_name_and_error() -> None:
    assert find_config("yolov6n").name == "yolov6n.yaml"
    assert find_config(None).name == "demo.yaml"
    with pytest.raises(DetregError, match="built-in configs: .*yolov6n"):
        find_config("yolov7x")


def test_data_flag_fills_datasets_and_classes(tiny_data: Path) -> None:
    cfg = prepare_config("yolov6n", ["train.img_size=64"], data=tiny_data)
    data = cfg.data["data"]
    assert data["nc"] == 6 and data["train"]["type"] == "YOLODataset"
    assert data["train"]["transforms"][0]["type"] == "Mosaic"  # the config's pipeline stays
    assert data["val"]["img_path"].endswith("images/val")
    assert "source" not in data


def test_synth_generated_once_and_regenerated_when_changed(tmp_path: Path) -> None:
    root = tmp_path / "synth"
    path = tmp_path / "c.yaml"
    path.write_text(
        f"_base_: {find_config('yolov6n')}\ndata: {{synth: {{root: {root}, train: 4, val: 2, size: 64}}}}\n"
    )
    prepare_config(path)
    assert len(list((root / "images" / "train").iterdir())) == 4
    stamp = (root / "data.yaml").stat().st_mtime_ns
    prepare_config(path)
    assert (root / "data.yaml").stat().st_mtime_ns == stamp  # reused
    prepare_config(path, ["data.synth.train=6"])
    assert len(list((root / "images" / "train").iterdir())) == 6
    with pytest.raises(DetregError, match="data.synth: unknown keys \\['trian'\\]"):
        prepare_config(path, ["data.synth.trian=6"])
