"""ModelEMA (decay ramp, update by hand, state round trip) and EMAHook."""

from __future__ import annotations

import io
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from detreg.hooks.ema import EMAHook
from detreg.optim.ema import ModelEMA, ema_decay
from detreg.registry import HOOKS


def one_param(value: float) -> nn.Linear:
    m = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(value)
    return m


def test_decay_ramp():
    assert ema_decay(1) == pytest.approx(0.9999 * (1 - math.exp(-1 / 2000)))
    assert ema_decay(1) == pytest.approx(4.99875e-4, rel=1e-4)
    assert ema_decay(2000) == pytest.approx(0.9999 * (1 - math.exp(-1)))  # ~0.63206
    assert ema_decay(10**6) == pytest.approx(0.9999)


def test_update_by_hand():
    model = one_param(1.0)
    ema = ModelEMA(model)
    with torch.no_grad():
        model.weight.fill_(3.0)
    ema.update(model)
    d1 = ema_decay(1)
    e1 = d1 * 1.0 + (1 - d1) * 3.0
    assert ema.updates == 1
    assert ema.module.weight.item() == pytest.approx(e1, rel=1e-6)
    with torch.no_grad():
        model.weight.fill_(5.0)
    ema.update(model)
    d2 = ema_decay(2)
    assert ema.module.weight.item() == pytest.approx(d2 * e1 + (1 - d2) * 5.0, rel=1e-6)


def test_copy_is_fp32_eval_no_grad_and_buffers():
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2)).half()
    ema = ModelEMA(model)
    assert all(t.dtype == torch.float32 for t in ema.module.state_dict().values() if t.is_floating_point())
    assert not ema.module.training
    assert not any(p.requires_grad for p in ema.module.parameters())
    model.float().train()
    model(torch.rand(2, 1, 3, 3))  # running stats and num_batches_tracked move
    ema.update(model)
    bn_ema, bn = ema.module[1], model[1]
    assert bn_ema.num_batches_tracked.item() == bn.num_batches_tracked.item() == 1  # copied
    d = ema_decay(1)
    assert torch.allclose(bn_ema.running_mean, (1 - d) * bn.running_mean)  # was 0: averaged


def test_state_round_trip_weights_only():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = ModelEMA(model)
    for _ in range(3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        ema.update(model)
    buf = io.BytesIO()
    torch.save({"ema": ema.state_dict()}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)["ema"]
    assert set(state) == {"module", "updates"}
    fresh = ModelEMA(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)))
    fresh.load_state_dict(state)
    assert fresh.updates == 3
    for k, v in ema.module.state_dict().items():
        assert torch.equal(v, fresh.module.state_dict()[k])
    assert fresh.current_decay() == pytest.approx(ema_decay(4))


def test_hook_creates_updates_and_offers_the_eval_model():
    hook = HOOKS.build({"type": "EMAHook", "decay": 0.999, "tau": 10})
    assert isinstance(hook, EMAHook) and hook.priority == 30
    model = one_param(1.0)
    runner = SimpleNamespace(model=nn.DataParallel(model), unwrapped_model=model, eval_model=None)
    hook.before_train(runner)
    assert isinstance(hook.ema, ModelEMA) and hook.ema.decay == 0.999 and hook.ema.tau == 10
    assert runner.eval_model is hook.ema.module  # evaluation and best.pt use the average
    assert isinstance(hook.ema.module, nn.Linear) and hook.ema.module.weight is not model.weight
    with torch.no_grad():
        model.weight.fill_(2.0)
    hook.after_optimizer_step(runner)
    d = 0.999 * (1 - math.exp(-1 / 10))
    assert hook.ema.updates == 1
    assert hook.ema.module.weight.item() == pytest.approx(d + (1 - d) * 2.0, rel=1e-6)


def test_hook_state_travels_through_checkpoint_events():
    """The EMA is saved under the top-level "ema" key and restored on resume, by the hook alone."""
    model = one_param(1.0)
    runner = SimpleNamespace(model=model, unwrapped_model=model, eval_model=None)
    hook = EMAHook(decay=0.9, tau=3)
    hook.before_train(runner)
    for value in (2.0, 5.0):
        with torch.no_grad():
            model.weight.fill_(value)
        hook.after_optimizer_step(runner)
    ckpt: dict = {"model": model.state_dict()}
    hook.on_save_checkpoint(runner, ckpt)
    assert ckpt["ema"]["updates"] == 2 and set(ckpt["ema"]["module"]) == set(model.state_dict())

    fresh_runner = SimpleNamespace(model=model, unwrapped_model=model, eval_model=None)
    fresh = EMAHook(decay=0.9, tau=3)
    fresh.before_train(fresh_runner)
    fresh.on_load_checkpoint(fresh_runner, ckpt)
    assert fresh.ema.updates == 2 and fresh_runner.eval_model is fresh.ema.module
    assert fresh.ema.module.weight.item() == hook.ema.module.weight.item()


def test_constant_decay_for_a_teacher():
    """tau <= 0: the decay holds from the first update (a mean teacher), BN buffers averaged too."""
    assert ema_decay(1, decay=0.99, tau=0) == 0.99 and ema_decay(10**6, decay=0.99, tau=0) == 0.99
    student = nn.Sequential(nn.Conv2d(1, 1, 1), nn.BatchNorm2d(1))
    teacher = ModelEMA(student, decay=0.5, tau=0)
    student.train()
    student(torch.full((2, 1, 2, 2), 4.0))  # moves the BN running mean
    teacher.update(student)
    assert teacher.module[1].running_mean.item() == pytest.approx(
        0.5 * 0 + 0.5 * student[1].running_mean.item()
    )
