"""train.pretrained / LoadWeightsHook: partial loading with a per-module report, class
predictors re-initialised when the classes differ, and a clear refusal for another model."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from detreg.config import load_config, validate
from detreg.data.synth import make_synth_dataset
from detreg.engine.checkpoint import load_matching, load_pretrained, save_checkpoint
from detreg.engine.runner import Runner
from detreg.errors import DetregError
from detreg.hooks.checkpoint import strip_checkpoint
from detreg.launch import CONFIG_DIR, prepare_config
from detreg.registry import MODELS

CLS_HEAD = {f"head.cls_preds.{i}.{p}" for i in range(3) for p in ("weight", "bias")}
PRIOR = -math.log((1 - 0.01) / 0.01)  # the head's class bias initialisation


@pytest.fixture(scope="module")
def three_class_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nc3")
    return make_synth_dataset(root, n_train=4, n_val=1, size=64, classes=["circle", "square", "triangle"])


def perturbed_state(nc: int, name: str = "yolov6n") -> dict[str, torch.Tensor]:
    """The weights of a model with ``nc`` classes, perturbed so nothing equals a fresh init."""
    cfg = prepare_config(CONFIG_DIR / f"{name}.yaml", [], validate=False)
    torch.manual_seed(123)
    model = MODELS.build(cfg.data["model"], "model", {"num_classes": nc, "img_size": 64})
    with torch.no_grad():
        for v in model.state_dict().values():
            if v.is_floating_point():
                v.add_(torch.rand_like(v))
    return model.state_dict()


@pytest.fixture(scope="module")
def six_class_state() -> dict[str, torch.Tensor]:
    return perturbed_state(6)


def build_with(data: Path, tmp_path: Path, ckpt: Path, caplog, extra: list[str] = ()) -> Runner:
    cfg = prepare_config(
        CONFIG_DIR / "yolov6n.yaml",
        [
            f"data.source={data}",
            f"work_dir={tmp_path / 'run'}",
            "train.img_size=64",
            "train.batch_size=2",
            "train.workers=0",
            f"train.pretrained={ckpt}",
            *extra,
        ],
    )
    runner = Runner(cfg)
    runner.logger.addHandler(caplog.handler)  # the detreg logger does not propagate
    try:
        with caplog.at_level(logging.INFO, logger="detreg"):
            runner.build()  # configure_model fires here
    finally:
        runner.logger.removeHandler(caplog.handler)
    return runner


def reports(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("pretrained")]


class Tiny(nn.Module):
    """Two modules, one with a nested child: enough for every kind of report entry."""

    def __init__(self, out: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
        self.head = nn.ModuleDict({"box": nn.Conv2d(8, 4, 1), "cls": nn.Conv2d(8, out, 1)})


def test_load_report_on_a_hand_made_mismatch() -> None:
    src, dst = Tiny(out=5), Tiny(out=4)
    state = src.state_dict()
    del state["body.1.running_var"]  # missing from the file
    state["head.extra.weight"] = torch.zeros(2)  # the model has no such tensor
    report = load_pretrained(dst, state)
    assert report.shape_mismatched == ["head.cls.weight", "head.cls.bias"]
    assert report.shapes["head.cls.weight"] == ((5, 8, 1, 1), (4, 8, 1, 1))
    assert report.missing == ["body.1.running_var"]
    assert report.unexpected == ["head.extra.weight"]
    assert len(report.loaded) == report.model_total - 3 and report.fraction_loaded == pytest.approx(8 / 11)
    for k in report.loaded:
        assert torch.equal(dst.state_dict()[k], state[k]), k
    rows = report.by_module(1)
    assert rows["body"] == {
        "loaded": 6,
        "shape_mismatched": 0,
        "missing": 1,
        "reinitialised": 0,
        "unexpected": 0,
    }
    assert rows["head"] == {
        "loaded": 2,
        "shape_mismatched": 2,
        "missing": 0,
        "reinitialised": 0,
        "unexpected": 1,
    }
    table = "\n".join(report.table())
    assert "head.cls" in table and "head.extra" in table and "head.box" not in table  # only what went wrong
    loaded, skipped = load_matching(Tiny(out=4), state)  # the older API gives the same split
    assert loaded == sorted(report.loaded)
    assert sorted(skipped) == sorted(report.shape_mismatched + report.missing + report.unexpected)
    chosen = load_pretrained(Tiny(out=5), src.state_dict(), reinit=["head.cls"])
    assert chosen.reinitialised == ["head.cls.weight", "head.cls.bias"] and not chosen.shape_mismatched


def test_other_class_count_keeps_everything_but_fresh_class_predictors(
    three_class_data: Path, six_class_state: dict, tmp_path: Path, caplog
) -> None:
    path = save_checkpoint({"model": six_class_state, "ema": None}, tmp_path / "nc6.pt")
    runner = build_with(three_class_data, tmp_path, path, caplog)
    own = runner.unwrapped_model.state_dict()
    assert runner.unwrapped_model.head.cls_preds[0].out_channels == 3
    loaded = [k for k in own if k not in CLS_HEAD]
    assert len(loaded) == len(own) - 6
    for k in loaded:
        torch.testing.assert_close(own[k], six_class_state[k], rtol=0, atol=0, msg=k)
    for i in range(3):  # re-initialised: the head's own prior initialisation
        assert torch.count_nonzero(own[f"head.cls_preds.{i}.weight"]) == 0
        torch.testing.assert_close(own[f"head.cls_preds.{i}.bias"], torch.full((3,), PRIOR))
    (report,) = reports(caplog)
    assert report.levelname == "INFO"  # new class predictors are what fine-tuning expects
    msg = report.getMessage()
    assert f"loaded {len(own) - 6} of {len(own)} tensors" in msg
    assert "class predictors re-initialised (6 classes in the file, 3 in this run)" in msg
    lines = msg.splitlines()
    assert lines[1].split() == ["module", "loaded", "shape", "missing", "reinit", "unexpected"]
    assert lines[-1].split() == ["head.cls_preds", "0", "0", "0", "6", "0"]
    assert len(lines) == 6  # backbone, neck, head and the one head module not loaded: short


def test_same_count_other_names_reinitialises_the_class_predictors(
    three_class_data: Path, tmp_path: Path, caplog
) -> None:
    state = perturbed_state(3)
    config = {"data": {"names": ["star", "cross", "ring"]}}
    path = save_checkpoint({"model": state, "ema": None, "config": config}, tmp_path / "other.pt")
    runner = build_with(three_class_data, tmp_path, path, caplog)
    assert torch.count_nonzero(runner.unwrapped_model.head.cls_preds[0].weight) == 0
    assert "re-initialised (other classes (star, cross, ring in the file))" in reports(caplog)[0].getMessage()

    config = {"data": {"names": ["circle", "square", "triangle"]}}  # the run's classes: all loads
    path = save_checkpoint({"model": state, "ema": None, "config": config}, tmp_path / "same.pt")
    caplog.clear()
    runner = build_with(three_class_data, tmp_path, path, caplog)
    torch.testing.assert_close(
        runner.unwrapped_model.head.cls_preds[0].weight, state["head.cls_preds.0.weight"]
    )
    assert reports(caplog)[0].getMessage().startswith(f"pretrained {path}: loaded all")


def test_another_family_or_size_is_refused_with_a_summary(
    three_class_data: Path, tmp_path: Path, caplog
) -> None:
    config = prepare_config(CONFIG_DIR / "yolov6s.yaml", [], validate=False).data
    path = save_checkpoint({"model": perturbed_state(3, "yolov6s"), "config": config}, tmp_path / "s.pt")
    with pytest.raises(DetregError) as info:
        build_with(three_class_data, tmp_path, path, caplog)
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 600
    family = "EfficientRep/RepBiFPANNeck/EffiDeHead depth 0.33"
    assert f"these weights are for another model (file: {family} width 0.5; " in msg
    assert f"this config: {family} width 0.25)" in msg
    assert "hooks.pretrained.min_loaded=0" in msg


def test_ema_weights_are_preferred_and_a_stripped_fp16_checkpoint_loads(
    three_class_data: Path, six_class_state: dict, tmp_path: Path, caplog
) -> None:
    ema = {k: v + 1 if v.is_floating_point() else v for k, v in six_class_state.items()}
    full = {"model": six_class_state, "ema": {"module": ema, "updates": 10}, "optimizer": None}
    stripped = save_checkpoint(strip_checkpoint(full), tmp_path / "best.pt")  # ema -> model, fp16
    runner = build_with(three_class_data, tmp_path, stripped, caplog)
    key = "backbone.stem.rbr_dense.conv.weight"
    own = runner.unwrapped_model.state_dict()
    assert own[key].dtype == torch.float32
    torch.testing.assert_close(own[key], ema[key].half().float(), rtol=0, atol=0)

    both = save_checkpoint(full, tmp_path / "full.pt")
    runner = build_with(three_class_data, tmp_path, both, caplog)
    torch.testing.assert_close(runner.unwrapped_model.state_dict()[key], ema[key], rtol=0, atol=0)


def test_strict_refuses_a_partial_match(
    three_class_data: Path, six_class_state: dict, tmp_path: Path, caplog
) -> None:
    path = save_checkpoint(six_class_state, tmp_path / "bare.pt")  # a bare state dict works too
    with pytest.raises(DetregError, match=r"model \(strict: true\): head.cls_preds: 6 vs 3 classes"):
        build_with(
            three_class_data,
            tmp_path,
            path,
            caplog,
            ["hooks.pretrained={type: LoadWeightsHook, strict: true}"],
        )


def test_train_pretrained_is_the_one_switch(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("_base_: yolov6n.yaml\ntrain: {pretrained: w.pt}\n")
    cfg = load_config(path)
    assert cfg.data["hooks"]["pretrained"] == {"type": "LoadWeightsHook"}
    assert cfg.where("hooks.pretrained") == f"{path}:2"
    assert not [p for p in validate(cfg, need_data=False) if "pretrained" in p]

    off = load_config(path, ["hooks.pretrained=null"])  # switched off: nothing would read the key
    problems = validate(off, need_data=False)
    assert any(p.startswith(f"{path}:2: train.pretrained: nothing reads it") for p in problems), problems

    path.write_text("_base_: yolov6n.yaml\nhooks:\n  w: {type: LoadWeightsHook}\n")  # hook without a file
    problems = validate(load_config(path), need_data=False)
    assert any(p.startswith(f"{path}:3: hooks.w: LoadWeightsHook needs train.pretrained") for p in problems)


def test_a_resumed_run_does_not_load_the_pretrained_file(
    three_class_data: Path, tmp_path: Path, caplog
) -> None:
    cfg = prepare_config(
        CONFIG_DIR / "yolov6n.yaml",
        [
            f"data.source={three_class_data}",
            "train.img_size=64",
            "train.workers=0",
            "train.pretrained=gone.pt",
        ],
    )
    runner = Runner(cfg, work_dir=tmp_path / "run", resume=tmp_path / "last.pt")
    runner.logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="detreg"):
            runner.build()  # no error although gone.pt does not exist
    finally:
        runner.logger.removeHandler(caplog.handler)
    assert "not loaded (resuming" in reports(caplog)[0].getMessage()
