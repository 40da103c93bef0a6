"""LRSchedulerHook: who steps the scheduler, and when."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from torch import nn

from detreg.hooks.lr_scheduler import LRSchedulerHook
from detreg.optim.schedulers import cosine_factor
from detreg.registry import HOOKS, OPTIMIZERS, SCHEDULERS


def make_runner(by_epoch: bool = True) -> SimpleNamespace:
    opt = OPTIMIZERS.build({"type": "SGD", "lr": 0.01}, model=nn.Linear(2, 2))
    ctx = {"epochs": 10, "iters_per_epoch": 4}
    sched = SCHEDULERS.build({"type": "CosineLR", "by_epoch": by_epoch}, optimizer=opt, context=ctx)
    return SimpleNamespace(optimizer=opt, scheduler=sched, epoch=0, iter=0)


def test_registered_with_priority_20():
    hook = HOOKS.build({"type": "LRSchedulerHook"})
    assert isinstance(hook, LRSchedulerHook) and hook.priority == 20


def test_per_epoch_steps_only_after_epoch():
    r = make_runner()
    hook = LRSchedulerHook()
    hook.after_step(r)
    assert r.scheduler.last_epoch == 0
    hook.after_epoch(r)
    assert r.scheduler.last_epoch == 1
    assert r.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * cosine_factor(1, 10, 0.01))


def test_per_iteration_steps_after_each_batch():
    r = make_runner(by_epoch=False)
    hook = LRSchedulerHook()
    for _ in range(3):
        hook.after_step(r)
    hook.after_epoch(r)
    assert r.scheduler.last_epoch == 3


def test_before_epoch_moves_schedule_to_runner_position():
    r = make_runner()
    r.epoch = 6  # e.g. resumed from a checkpoint without scheduler state
    LRSchedulerHook().before_epoch(r)
    assert r.scheduler.last_epoch == 6
    assert r.optimizer.param_groups[1]["lr"] == pytest.approx(0.01 * cosine_factor(6, 10, 0.01))
    r2 = make_runner(by_epoch=False)
    r2.iter = 9
    LRSchedulerHook().before_epoch(r2)
    assert r2.scheduler.last_epoch == 9


def test_no_scheduler_is_fine():
    r = SimpleNamespace(scheduler=None, epoch=0, iter=0)
    hook = LRSchedulerHook()
    hook.before_epoch(r)
    hook.after_step(r)
    hook.after_epoch(r)
