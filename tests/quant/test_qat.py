"""``QATHook``: fake-quantized fine-tuning through the normal runner (EMA, evaluation,
checkpoints), an exact resume, and the int8 file at the end."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

pytest.importorskip("torchao")

from quant_helpers import SMALL, make_float_checkpoint  # noqa: E402

from detreg.apps import load_detector, resolve_config  # noqa: E402
from detreg.engine.checkpoint import load_checkpoint  # noqa: E402
from detreg.engine.runner import Runner  # noqa: E402
from detreg.launch import prepare_config  # noqa: E402


def _runner(tiny_data: Path, work: Path, weights: Path, epochs: int, resume: Path | None = None) -> Runner:
    overrides = [
        *SMALL,
        "train.batch_size=6",
        f"train.epochs={epochs}",
        "train.amp=false",
        "hooks.logger=null",
        "hooks.eval.interval=1",
        f"hooks.qat={{type: QATHook, weights: {weights}, skip: ['head.cls_preds.*']}}",
        "optimizer.lr=0.001",
        "hooks.checkpoint.interval=1",
    ]
    cfg = prepare_config("yolov6n", overrides, str(tiny_data))
    cfg.data["work_dir"] = str(work)
    return Runner(cfg, work_dir=work, resume=resume)


@pytest.mark.slow
def test_qat_trains_resumes_exactly_and_writes_int8(tiny_data: Path, tmp_path: Path) -> None:
    weights = make_float_checkpoint(tmp_path, tiny_data)
    straight = _runner(tiny_data, tmp_path / "straight", weights, epochs=2)
    straight.train()
    resumed = _runner(tiny_data, tmp_path / "resumed", weights, 2, resume=straight.work_dir / "epoch_1.pt")
    resumed.train()

    a, b = load_checkpoint(straight.work_dir / "last.pt"), load_checkpoint(resumed.work_dir / "last.pt")
    assert a["epoch"] == b["epoch"] == 2
    for part in ("model", "ema"):
        sa, sb = (
            a[part] if part == "model" else a[part]["module"],
            b[part] if part == "model" else b[part]["module"],
        )
        assert set(sa) == set(sb)
        assert any("activation_post_process" in k for k in sa)  # fake-quantize state is checkpointed
        for k in sa:
            assert torch.equal(sa[k], sb[k]), (part, k)

    int8 = straight.work_dir / "qat_int8.pt"
    ckpt = load_checkpoint(int8)
    assert ckpt["quantized"]["mode"] == "qat" and ckpt["quantized"]["skip"][0] == "head.cls_preds.0"
    ns = argparse.Namespace(config=None, overrides=[], data=None, weights=str(int8))
    model = load_detector(resolve_config(ns), int8)[0]
    targets = {str(n.target) for n in model.net.graph.nodes if n.op == "call_function"}
    assert "quantized_decomposed.dequantize_per_channel.default" in targets
    assert sum(v.dtype == torch.int8 for v in model.net.state_dict().values()) > 20


def test_builtin_qat_configs_validate(tiny_data: Path) -> None:
    for name in ("yolov6n", "yolov6s"):
        cfg = prepare_config(f"configs/quant/{name}_qat.yaml", ["hooks.qat.weights=x.pt"], str(tiny_data))
        assert cfg.data["hooks"]["qat"]["type"] == "QATHook" and "warmup" not in cfg.data["hooks"]
        assert cfg.data["optimizer"]["lr"] == 1e-5 and cfg.data["train"]["epochs"] == 10


def test_qat_without_weights_says_what_to_set(tiny_data: Path, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from detreg.errors import DetregError
    from detreg.hooks.qat import QATHook

    with pytest.raises(DetregError, match=r"hooks.qat.weights="):
        QATHook().configure_model(SimpleNamespace(model=torch.nn.Conv2d(3, 3, 1)))
