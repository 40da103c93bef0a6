"""WarmupHook: lr (bias / non-bias), momentum and accumulate at known iterations."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from torch import nn

from detreg.hooks.warmup import WarmupHook, interp, warmup_iters
from detreg.optim.schedulers import cosine_factor
from detreg.registry import HOOKS, OPTIMIZERS, SCHEDULERS

LR, EPOCHS, IPE, BS = 0.02, 300, 100, 16  # W = max(round(3 * 100), 1000) = 1000
W = 1000


def make_runner(optimizer: str = "SGD", scheduler: bool = True, iters_per_epoch: int = IPE, **train):
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    opt = OPTIMIZERS.build(
        {"type": optimizer, "lr": LR, "scale_lr": False}, model=model, context={"batch_size": BS}
    )
    sched = None
    if scheduler:
        sched = SCHEDULERS.build({"type": "CosineLR", "lrf": 0.01}, optimizer=opt, context={"epochs": EPOCHS})
    return SimpleNamespace(
        iter=0,
        epoch=0,
        max_epochs=EPOCHS,
        optimizer=opt,
        scheduler=sched,
        train_loader=[None] * iters_per_epoch,
        accumulate=1,
        cfg={"train": {"batch_size": BS, **train}},
        logger=logging.getLogger("test"),
    )


def at(runner, hook, t):
    runner.iter = t
    runner.epoch = t // len(runner.train_loader)
    hook.before_step(runner)
    groups = {g["name"]: g for g in runner.optimizer.param_groups}
    return groups


def target(epoch: int) -> float:
    return LR * cosine_factor(epoch, EPOCHS, 0.01)


def test_registered_with_yolov6_defaults():
    hook = HOOKS.build({"type": "WarmupHook"})
    assert isinstance(hook, WarmupHook) and hook.priority == 20
    assert (hook.warmup_epochs, hook.min_warmup_iters, hook.warmup_bias_lr, hook.warmup_momentum) == (
        3.0,
        1000,
        0.1,
        0.8,
    )


def test_warmup_iters():
    assert warmup_iters(3, 100, 1000) == 1000
    assert warmup_iters(3, 500, 1000) == 1500
    assert warmup_iters(0.5, 5, 0) == 2  # round(2.5) -> 2 (half to even, like numpy)
    assert interp(5, 10, 1.0, 3.0) == 2.0 and interp(20, 10, 1.0, 3.0) == 3.0
    assert warmup_iters(3, 100, 1000, epochs=300) == 1000  # under the cap (3000): YOLOv6's value
    assert warmup_iters(3, 50, 1000, epochs=30) == 150  # capped at a tenth of 1500 iterations
    assert warmup_iters(3, 50, 1000, epochs=30, max_fraction=1.0) == 1000


def test_short_run_warmup_is_a_tenth_of_the_run_and_logged(caplog):
    r, hook = make_runner(iters_per_epoch=50), WarmupHook()
    r.max_epochs = 30
    with caplog.at_level(logging.INFO, logger="test"):
        hook.before_train(r)
    assert "recipe: warmup 150 of 1500 iterations" in caplog.text
    assert "recipe: short run (1500 < 10000 iterations): every batch is an optimizer step" in caplog.text
    assert "then accumulate 1 batches of 16 (nominal batch 16)" in caplog.text
    at(r, hook, 150)
    assert r.accumulate == 1 and at(r, hook, 75)["bias"]["lr"] < 0.1
    explicit = WarmupHook(nominal_batch_size=64)  # a number is kept whatever the length
    at(r, explicit, 150)
    assert r.accumulate == 4


def test_auto_nominal_batch_accumulates_in_long_runs():
    r, hook = make_runner(iters_per_epoch=50), WarmupHook()
    r.max_epochs = 200  # 10,000 iterations: YOLOv6's 64 images per step
    at(r, hook, 5000)
    assert r.accumulate == 4


def test_start_of_warmup():
    r, hook = make_runner(), WarmupHook()
    hook.before_train(r)
    g = at(r, hook, 0)
    assert g["weight"]["lr"] == 0.0 and g["norm"]["lr"] == 0.0
    assert g["bias"]["lr"] == pytest.approx(0.1)
    assert all(x["momentum"] == pytest.approx(0.8) for x in g.values())
    assert r.accumulate == 1


def test_middle_of_warmup():
    r, hook = make_runner(), WarmupHook()
    hook.before_train(r)
    g = at(r, hook, W // 2)  # epoch 5
    tgt = target(5)
    assert g["weight"]["lr"] == pytest.approx(tgt / 2)
    assert g["norm"]["lr"] == pytest.approx(tgt / 2)
    assert g["bias"]["lr"] == pytest.approx(0.1 + (tgt - 0.1) / 2)
    assert g["weight"]["momentum"] == pytest.approx(0.8 + (0.937 - 0.8) / 2)
    assert r.accumulate == 2  # round(interp(500, [0, 1000], [1, 4])) = round(2.5) = 2


def test_end_of_warmup_and_after():
    r, hook = make_runner(), WarmupHook()
    hook.before_train(r)
    g = at(r, hook, W)  # epoch 10: lands exactly on the schedule
    for x in g.values():
        assert x["lr"] == pytest.approx(target(10))
        assert x["momentum"] == pytest.approx(0.937)
    assert r.accumulate == 4  # 64 / 16
    for x in g.values():
        x["lr"], x["momentum"] = 0.123, 0.5  # what the scheduler / anyone set
    g = at(r, hook, W + 1)
    assert all(x["lr"] == 0.123 and x["momentum"] == 0.5 for x in g.values())  # untouched
    assert r.accumulate == 4


def test_level_triggered_resume_matches():
    """A fresh hook + runner at step t computes what a continuous run had at t."""
    r1, h1 = make_runner(), WarmupHook()
    h1.before_train(r1)
    for t in range(0, 700, 7):
        at(r1, h1, t)
    r2, h2 = make_runner(), WarmupHook()
    h2.before_train(r2)
    r2.optimizer.load_state_dict(r1.optimizer.state_dict())
    g1, g2 = at(r1, h1, 700), at(r2, h2, 700)
    for k in g1:
        assert g1[k]["lr"] == pytest.approx(g2[k]["lr"])
        assert g1[k]["momentum"] == pytest.approx(g2[k]["momentum"])
    assert r1.accumulate == r2.accumulate == 3  # round(1 + 3 * 0.7) = 3


def test_without_scheduler_targets_initial_lr():
    r, hook = make_runner(scheduler=False), WarmupHook()
    hook.before_train(r)
    g = at(r, hook, W)
    assert g["weight"]["lr"] == pytest.approx(LR)


def test_adam_warms_beta1():
    r, hook = make_runner(optimizer="Adam"), WarmupHook()
    hook.before_train(r)
    g = at(r, hook, W // 2)
    assert g["weight"]["betas"] == (pytest.approx(0.8 + (0.937 - 0.8) / 2), 0.999)
    g = at(r, hook, W)
    assert g["weight"]["betas"][0] == pytest.approx(0.937)


def test_accumulate_left_alone():
    r, hook = make_runner(accumulate=2), WarmupHook()  # train.accumulate set explicitly
    hook.before_train(r)
    at(r, hook, W + 5)
    assert r.accumulate == 1
    r, hook = make_runner(), WarmupHook(nominal_batch_size=None)
    at(r, hook, 10)
    assert r.accumulate == 1


def test_disabled_warmup():
    r, hook = make_runner(), WarmupHook(warmup_epochs=0, min_warmup_iters=0)
    hook.before_train(r)
    g = at(r, hook, 0)
    assert g["bias"]["lr"] == pytest.approx(LR)  # untouched: the scheduler's value
    assert r.accumulate == 4


def test_accumulate_never_exceeds_an_epoch():
    """3 batches per epoch, nominal 64 / 16 = 4: a 4-batch accumulation would never step."""
    r, hook = (
        make_runner(iters_per_epoch=3),
        WarmupHook(min_warmup_iters=0, warmup_epochs=0, nominal_batch_size=64),
    )
    hook.before_train(r)
    at(r, hook, 5)
    assert r.accumulate == 3
