"""Warmup, LR and EMA hooks inside the real runner: values per step, and exact resume."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from detreg.engine import Hook
from detreg.engine.runner import Runner
from detreg.launch import prepare_config


class StepLog(Hook):
    """Records lr/momentum/accumulate/EMA updates per step; saves ``epoch_N.pt`` each epoch."""

    priority = 60

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def after_step(self, runner) -> None:
        g = runner.optimizer.param_groups
        self.rows.append(
            (
                runner.iter,
                [x["lr"] for x in g],
                g[0]["momentum"],
                runner.accumulate,
                dict(runner.hooks)["ema"].ema.updates,
            )
        )

    def after_epoch(self, runner) -> None:
        runner.save_checkpoint(runner.work_dir / f"epoch_{runner.epoch}.pt")


HOOKS = """\
warmup: {type: WarmupHook, min_warmup_iters: 5, max_fraction: 1.0}
lr: {type: LRSchedulerHook}
ema: {type: EMAHook, tau: 3}
log: {type: test_training_hooks_run.StepLog}
"""
EXTRA = "scheduler: {type: CosineLR, lrf: 0.01}\n"


def run(path: Path, work_dir: Path, resume: Path | None = None) -> Runner:
    overrides = [
        f"work_dir={work_dir}",
        "train.deterministic=true",
        "train.warmup_epochs=1",
        "train.nominal_batch_size=8",
        "optimizer.scale_lr=true",  # YOLOv6's scaling (auto would keep lr0 in this short run)
    ]
    runner = Runner(prepare_config(path, overrides), resume=resume)
    runner.train()
    return runner


def test_values_per_step_and_resume(toy_config, tmp_path: Path) -> None:
    path = toy_config(HOOKS, EXTRA, epochs=4)  # 12 images, batch 4: 3 steps per epoch, W = 5
    full = run(path, tmp_path / "full")
    rows = dict(full.hooks)["log"].rows
    base = 0.01 * 4 / 32  # lr scaled by bs / bs_per_gpu
    lf1 = ((1 - math.cos(math.pi / 4)) / 2) * (0.01 - 1) + 1
    it, lrs, momentum, accumulate, updates = rows[0]
    assert lrs == [0.0, 0.0, 0.1] and momentum == 0.8 and accumulate == 1 and updates == 1
    it, lrs, momentum, accumulate, _ = rows[5]  # t = W, epoch 1
    assert all(math.isclose(x, base * lf1) for x in lrs) and math.isclose(momentum, 0.937)
    assert accumulate == 2  # 8 / 4
    assert full.scheduler.last_epoch == 4
    assert dict(full.hooks)["ema"].ema.updates == rows[-1][4] > 0

    resumed = run(path, tmp_path / "res", resume=tmp_path / "full" / "epoch_1.pt")
    assert dict(resumed.hooks)["log"].rows == rows[6:]
    for a, b in (
        (full.unwrapped_model, resumed.unwrapped_model),
        (dict(full.hooks)["ema"].ema.module, dict(resumed.hooks)["ema"].ema.module),
    ):
        sa, sb = a.state_dict(), b.state_dict()
        for k in sa:
            torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0, msg=k)
    assert dict(resumed.hooks)["ema"].ema.updates == dict(full.hooks)["ema"].ema.updates
