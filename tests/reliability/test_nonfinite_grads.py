"""Issue 11.3: a NaN gradient with a finite loss must not poison the weights or ``last.pt``.

The train step checks the gradients (one fused norm) before the optimizer applies them,
skips and counts such steps like non-finite losses, and the checkpoint writer refuses
non-finite weights, keeping the previous file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from detreg.engine import Hook
from detreg.engine.checkpoint import load_checkpoint, nonfinite_tensors, save_checkpoint
from detreg.engine.runner import Runner
from detreg.errors import DetregError
from detreg.launch import prepare_config


class NaNGradHook(Hook):
    """Poison one gradient after the backward of the iterations in ``at`` (all when empty)."""

    def __init__(self, at: list[int] | None = None) -> None:
        self.at = at

    def after_backward(self, runner) -> None:
        if self.at is None or runner.iter in self.at:
            next(runner.unwrapped_model.parameters()).grad.view(-1)[0] = float("nan")


class NaNWeightsHook(Hook):
    """Write NaN into the weights after the optimizer steps of epoch ``epoch``."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def after_optimizer_step(self, runner) -> None:
        if runner.epoch == self.epoch:
            next(runner.unwrapped_model.parameters()).data.fill_(float("nan"))


def run(path: Path, overrides: list[str] = ()) -> Runner:
    runner = Runner(prepare_config(path, ["hooks.logger=null", *overrides]))
    runner.train()
    return runner


def all_finite(state: dict) -> bool:
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_nan_gradient_step_is_skipped_counted_and_weights_stay_finite(toy_config) -> None:
    # 3 steps per epoch, 2 epochs: iterations 1 and 4 get a NaN gradient and a finite loss
    hooks = f"nan: {{type: {__name__}.NaNGradHook, at: [1, 4]}}\nlast: {{type: CheckpointHook}}\n"
    runner = run(toy_config(hooks))
    assert all_finite(runner.unwrapped_model.state_dict())
    assert runner.train_step.skipped == 2
    ckpt = load_checkpoint(runner.work_dir / "last.pt")
    assert all_finite(ckpt["model"]) and ckpt["train_step"]["skipped"] == 2


def test_gradients_never_finite_stop_with_a_clear_message(toy_config) -> None:
    hooks = f"nan: {{type: {__name__}.NaNGradHook}}\n"
    with pytest.raises(DetregError, match="gradient was not finite for 2 steps in a row"):
        run(toy_config(hooks), ["train.step.max_nonfinite=2"])


def test_checkpoint_writer_refuses_nonfinite_weights_and_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {"w": torch.ones(3)}, "epoch": 1}, path)
    bad = {"model": {"w": torch.tensor([1.0, float("nan"), 2.0])}, "ema": {"module": {"w": torch.ones(3)}}}
    assert nonfinite_tensors(bad) == ["model.w"]
    with pytest.raises(
        DetregError,
        match=r"refusing to write .*last.pt: 1 weight tensors are not finite.*"
        r"model.w.*the previous last.pt is intact",
    ):
        save_checkpoint(bad, path)
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    with pytest.raises(DetregError, match="ema.w"):
        inf = {"module": {"w": torch.tensor([float("inf")])}}
        save_checkpoint({"model": {"w": torch.ones(1)}, "ema": inf}, path)


def test_weights_gone_nan_never_overwrite_the_last_good_checkpoint(toy_config) -> None:
    hooks = f"poison: {{type: {__name__}.NaNWeightsHook, epoch: 1}}\nlast: {{type: CheckpointHook}}\n"
    path = toy_config(hooks)
    with pytest.raises(DetregError, match="refusing to write .*last.pt.*the previous last.pt is intact"):
        run(path)
    ckpt = load_checkpoint(path.parent / "run" / "last.pt")
    assert ckpt["epoch"] == 1 and all_finite(ckpt["model"])
