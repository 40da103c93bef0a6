"""``TrainStep`` autocast choice on the CPU: bf16 only where native, fp32 for ``amp: false``."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from detreg.engine import step as step_mod
from detreg.engine.step import TrainStep


def _runner(amp: bool) -> SimpleNamespace:
    return SimpleNamespace(device="cpu", cfg={"train": {"amp": amp}}, logger=logging.getLogger("test"))


@pytest.mark.parametrize("fast", [True, False])
def test_cpu_amp_uses_bf16_only_where_fast(monkeypatch: pytest.MonkeyPatch, fast: bool) -> None:
    monkeypatch.setattr(step_mod, "cpu_bf16_fast", lambda: fast)
    s = TrainStep()
    s.setup(_runner(True))
    assert s._autocast["enabled"] is fast
    if fast:
        assert s._autocast["dtype"] is torch.bfloat16
    s = TrainStep()
    s.setup(_runner(False))
    assert s._autocast["enabled"] is False
    s = TrainStep(amp_dtype="bfloat16")  # forced
    s.setup(_runner(True))
    assert s._autocast["enabled"] is True and s.scaler is None


def test_cpu_bf16_fast_returns_bool() -> None:
    assert isinstance(step_mod.cpu_bf16_fast(), bool)
