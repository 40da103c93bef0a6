"""LR schedules: factor curves, per-epoch / per-iteration positions, state round trip."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

from detreg.errors import ConfigError
from detreg.optim.schedulers import cosine_factor, linear_factor
from detreg.registry import OPTIMIZERS, SCHEDULERS


def make_opt(lr: float = 0.02) -> torch.optim.Optimizer:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    return OPTIMIZERS.build({"type": "SGD", "lr": lr}, model=model)


def test_cosine_endpoints_and_middle():
    assert cosine_factor(0, 100, 0.01) == pytest.approx(1.0)
    assert cosine_factor(100, 100, 0.01) == pytest.approx(0.01)
    assert cosine_factor(50, 100, 0.01) == pytest.approx((1 + 0.01) / 2)


def test_linear_endpoints_and_middle():
    assert linear_factor(0, 10, 0.01) == pytest.approx(1.0)
    assert linear_factor(10, 10, 0.01) == pytest.approx(0.01)
    assert linear_factor(5, 10, 0.01) == pytest.approx(0.505)


def test_cosine_per_epoch_steps():
    opt = make_opt()
    s = SCHEDULERS.build({"type": "CosineLR", "lrf": 0.01}, optimizer=opt, context={"epochs": 10})
    assert s.last_epoch == 0 and opt.param_groups[0]["lr"] == pytest.approx(0.02)
    for _ in range(10):
        opt.step()
        s.step()
    assert s.last_epoch == 10
    assert all(g["lr"] == pytest.approx(0.02 * 0.01) for g in opt.param_groups)
    s.step()  # past the end it stays at lrf
    assert opt.param_groups[0]["lr"] == pytest.approx(0.02 * 0.01)


def test_per_iteration_uses_fractional_epochs():
    opt = make_opt()
    ctx = {"epochs": 4, "iters_per_epoch": 5}
    s = SCHEDULERS.build({"type": "LinearLR", "lrf": 0.1, "by_epoch": False}, optimizer=opt, context=ctx)
    for _ in range(7):
        opt.step()
        s.step()
    x = 7 / 5
    assert opt.param_groups[1]["lr"] == pytest.approx(0.02 * ((1 - x / 4) * 0.9 + 0.1))
    assert s.lrs_at(20)[0] == pytest.approx(0.02 * 0.1)


def test_per_iteration_needs_iters_per_epoch():
    with pytest.raises(ConfigError, match="iters_per_epoch"):
        SCHEDULERS.build({"type": "CosineLR", "by_epoch": False}, optimizer=make_opt(), context={"epochs": 3})


def test_constant():
    opt = make_opt()
    s = SCHEDULERS.build({"type": "ConstantLR"}, optimizer=opt, context={"epochs": 3})
    for _ in range(3):
        opt.step()
        s.step()
    assert opt.param_groups[2]["lr"] == pytest.approx(0.02)


def test_set_position():
    opt = make_opt()
    s = SCHEDULERS.build({"type": "CosineLR"}, optimizer=opt, context={"epochs": 10})
    s.set_position(5)
    assert s.last_epoch == 5
    assert opt.param_groups[0]["lr"] == pytest.approx(0.02 * cosine_factor(5, 10, 0.01))
    assert s.get_last_lr()[0] == pytest.approx(opt.param_groups[0]["lr"])


def test_state_round_trip_weights_only():
    opt = make_opt()
    s = SCHEDULERS.build({"type": "CosineLR", "lrf": 0.01}, optimizer=opt, context={"epochs": 10})
    for _ in range(3):
        opt.step()
        s.step()
    buf = io.BytesIO()
    torch.save({"scheduler": s.state_dict(), "optimizer": opt.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    assert "epochs" not in ckpt["scheduler"] and "lrf" not in ckpt["scheduler"]

    opt2 = make_opt()
    s2 = SCHEDULERS.build({"type": "CosineLR", "lrf": 0.01}, optimizer=opt2, context={"epochs": 10})
    opt2.load_state_dict(ckpt["optimizer"])
    s2.load_state_dict(ckpt["scheduler"])
    assert s2.last_epoch == 3
    for _ in range(2):
        opt.step()
        s.step()
        opt2.step()
        s2.step()
    assert s2.get_last_lr() == pytest.approx(s.get_last_lr())
    assert [g["lr"] for g in opt2.param_groups] == pytest.approx([g["lr"] for g in opt.param_groups])


def test_resume_with_longer_schedule_follows_config():
    opt = make_opt()
    s = SCHEDULERS.build({"type": "CosineLR"}, optimizer=opt, context={"epochs": 10})
    opt.step()
    s.step()
    s2 = SCHEDULERS.build({"type": "CosineLR"}, optimizer=make_opt(), context={"epochs": 20})
    s2.load_state_dict(s.state_dict())
    assert s2.epochs == 20
    assert s2.lrs_at(10)[0] == pytest.approx(0.02 * ((1 - math.cos(math.pi / 2)) / 2 * (0.01 - 1) + 1))
