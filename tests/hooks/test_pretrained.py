"""LoadWeightsHook: shape-matched partial loading (finetune a 6-class model into 3 classes)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from detreg.data.synth import make_synth_dataset
from detreg.engine.checkpoint import save_checkpoint
from detreg.engine.runner import Runner
from detreg.errors import DetregError
from detreg.hooks.checkpoint import strip_checkpoint
from detreg.launch import CONFIG_DIR, prepare_config
from detreg.registry import MODELS

CLS_HEAD = {f"head.cls_preds.{i}.{p}" for i in range(3) for p in ("weight", "bias")}


@pytest.fixture(scope="module")
def three_class_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nc3")
    return make_synth_dataset(root, n_train=4, n_val=1, size=64, classes=["circle", "square", "triangle"])


@pytest.fixture(scope="module")
def six_class_state() -> dict[str, torch.Tensor]:
    """The weights of a YOLOv6-N with 6 classes, perturbed so nothing equals a fresh init."""
    cfg = prepare_config(CONFIG_DIR / "yolov6n.yaml", [], validate=False)
    torch.manual_seed(123)
    model = MODELS.build(cfg.data["model"], "model", {"num_classes": 6, "img_size": 64})
    with torch.no_grad():
        for v in model.state_dict().values():
            if v.is_floating_point():
                v.add_(torch.rand_like(v))
    return model.state_dict()


def build_with(data: Path, tmp_path: Path, ckpt: Path, caplog, extra: list[str] = ()) -> Runner:
    cfg = prepare_config(
        CONFIG_DIR / "yolov6n.yaml",
        [
            f"data.source={data}",
            f"work_dir={tmp_path / 'run'}",
            "train.img_size=64",
            "train.batch_size=2",
            "train.workers=0",
            f"hooks.pretrained={{type: LoadWeightsHook, path: {ckpt}}}",
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


def test_matching_entries_load_and_the_class_head_is_skipped(
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
    for k in CLS_HEAD:
        assert own[k].shape[0] == 3  # kept its own initialisation
    report = [r for r in caplog.records if "pretrained" in r.getMessage()]
    assert len(report) == 1 and report[0].levelname == "WARNING"  # a partial load is never quiet
    msg = report[0].getMessage()
    assert f"loaded {len(own) - 6} of {len(own)} tensors" in msg
    assert "head.cls_preds: 6 vs 3 classes (file vs model)" in msg
    assert "6 tensor(s) differ in shape in head.cls_preds (6)" in msg


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
        build_with(three_class_data, tmp_path, path, caplog, ["hooks.pretrained.strict=true"])
