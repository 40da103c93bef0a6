"""Config: _base_ chains, merge rules, overrides, validation with key paths and lines."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from detreg.config import apply_override, check, dump, load_config, merge, validate
from detreg.errors import ConfigError, DetregError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_merge_rules() -> None:
    base = {"a": {"x": 1, "y": 2}, "b": [1, 2], "c": 3}
    child = {"a": {"y": 20, "z": 30}, "b": [9], "c": None}
    assert merge(base, child) == {"a": {"x": 1, "y": 20, "z": 30}, "b": [9]}
    assert merge(base, {"a": {"_delete_": True, "q": 1}}) == {"a": {"q": 1}, "b": [1, 2], "c": 3}
    assert base == {"a": {"x": 1, "y": 2}, "b": [1, 2], "c": 3}  # inputs untouched


def test_base_chain_relative_paths(tmp_path: Path) -> None:
    write(
        tmp_path / "base" / "root.yaml",
        "train: {epochs: 10, batch_size: 8}\nhooks: {a: {type: X, v: 1}, b: {type: Y}}\n",
    )
    write(tmp_path / "base" / "mid.yaml", "_base_: root.yaml\ntrain: {epochs: 20}\nhooks: {a: {v: 2}}\n")
    leaf = write(tmp_path / "leaf.yaml", "_base_: [base/mid.yaml]\nhooks: {b: null}\nmodel: {type: M}\n")
    cfg = load_config(leaf)
    assert cfg.data["train"]["epochs"] == 20 and cfg.data["train"]["batch_size"] == 8
    assert cfg.data["hooks"]["a"] == {"type": "X", "v": 2} and "b" not in cfg.data["hooks"]
    assert cfg.data["hooks"]["checkpoint"] == {"type": "CheckpointHook"}  # default hooks
    assert cfg.where("hooks.a.v").endswith("mid.yaml:3")
    assert cfg.where("model.type").endswith("leaf.yaml:3")
    assert cfg.data["train"]["img_size"] == 640  # defaults filled


def test_base_cycle_and_missing(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "_base_: b.yaml\n")
    write(tmp_path / "b.yaml", "_base_: a.yaml\n")
    with pytest.raises(DetregError, match="_base_ cycle"):
        load_config(tmp_path / "a.yaml")
    write(tmp_path / "c.yaml", "_base_: nothere.yaml\n")
    with pytest.raises(DetregError, match=r"c.yaml:1: _base_ file not found: nothere.yaml"):
        load_config(tmp_path / "c.yaml")


def test_overrides_parse_yaml_and_null(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml", "model: {type: M, depth: 1}\nhooks: {ema: {type: EMAHook, decay: 0.9}}\n"
    )
    cfg = load_config(
        path, ["train.epochs=50", "hooks.ema.decay=0.999", "model.widths=[1, 2]", "hooks.ema=null"]
    )
    assert cfg.data["train"]["epochs"] == 50
    assert cfg.data["model"]["widths"] == [1, 2]
    assert "ema" not in cfg.data["hooks"]
    assert cfg.where("train.epochs") == "command line"
    data = {"l": [{"a": 1}]}
    apply_override(data, "l.0.a=5")
    assert data == {"l": [{"a": 5}]}
    with pytest.raises(ConfigError, match="must look like key.sub=value"):
        apply_override(data, "novalue")
    with pytest.raises(ConfigError, match="is not an index"):
        apply_override(data, "l.3.a=1")


def test_default_hook_switched_off_by_null(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import detreg.config as config

    monkeypatch.setattr(config, "DEFAULT_HOOKS", {"logger": {"type": "L"}, "ckpt": {"type": "C"}})
    path = write(tmp_path / "c.yaml", "hooks: {logger: null}\n")
    assert config.load_config(path).data["hooks"] == {"ckpt": {"type": "C"}}


def test_invalid_yaml_reports_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", "model:\n  type: X\n  a: [1, 2\n")
    with pytest.raises(DetregError, match=r"bad.yaml:\d+: invalid YAML"):
        load_config(path)
    path = write(tmp_path / "dup.yaml", "a: 1\na: 2\n")
    with pytest.raises(DetregError, match=r"dup.yaml:2: invalid YAML: duplicate key 'a'"):
        load_config(path)


def test_validation_collects_every_problem_with_locations(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        """\
        model:
          type: NoSuchModel
        optimizer:
          type: SGD
          lrr: 0.01
        trian: {}
        data: {vall: {}}
        train:
          epochs: 0
          batchsize: 4
        hooks:
          ema:
            type: EMAHok
          warm:
            type: WarmupHook
            priority: high
        """,
    )
    cfg = load_config(path)
    problems = validate(cfg)
    text = "\n".join(problems)
    assert "c.yaml:2: model.type: unknown model 'NoSuchModel'" in text
    assert "c.yaml:5: optimizer.lrr: SGD has no argument 'lrr'. Did you mean 'lr'?" in text
    assert "trian: unknown top-level key. Did you mean 'train'?" in text
    assert "c.yaml:9: train.epochs: must be >= 1, got 0" in text
    assert "train.batchsize: unknown key. Did you mean 'batch_size'?" in text
    assert "data.vall: unknown key. Did you mean 'val'?" in text
    assert "c.yaml:13: hooks.ema.type: unknown hook 'EMAHok'. Did you mean 'EMAHook'" in text
    assert "c.yaml:16: hooks.warm.priority: must be an integer" in text
    with pytest.raises(ConfigError) as info:
        check(cfg)
    assert len(info.value.problems) == len(problems) >= 8


def test_imports_register_local_components(tmp_path: Path) -> None:
    write(
        tmp_path / "my_local_hooks.py",
        "from detreg.engine import Hook\nfrom detreg.registry import HOOKS\n\n"
        "@HOOKS.register()\nclass MyLocalConfigHook(Hook):\n"
        "    def __init__(self, k: int = 1):\n        self.k = k\n",
    )
    path = write(
        tmp_path / "c.yaml",
        "imports: [my_local_hooks]\nmodel: {type: torch.nn.Identity}\n"
        "optimizer: {type: SGD}\nhooks: {mine: {type: MyLocalConfigHook, k: 2}}\n",
    )
    cfg = load_config(path)
    check(cfg)  # raises on any problem
    path2 = write(tmp_path / "d.yaml", "imports: [not_a_module_xyz]\n")
    with pytest.raises(ConfigError, match=r"d.yaml:1: imports: cannot import 'not_a_module_xyz'"):
        check(load_config(path2))


def test_dump_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "model: {type: M, sizes: [1, 2]}\n")
    cfg = load_config(path, ["train.epochs=3"])
    dump(cfg, tmp_path / "out" / "config.yaml")
    again = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    assert again == cfg.data
