"""Parameter groups, batch-size scaling and the registered optimizer builders."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from detreg.optim.param_groups import is_norm_layer, split_param_groups
from detreg.optim.scaling import nominal_accumulate, scaled_lr, scaled_weight_decay
from detreg.registry import OPTIMIZERS


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.conv_b = nn.Conv2d(4, 4, 1)  # weight + bias
        self.gn = nn.GroupNorm(2, 4)
        self.ln = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 2)
        self.scale = nn.Parameter(torch.ones(1))  # custom parameter: not dropped, decayed
        self.tied = self.fc  # shared module: its params listed once


def ids(params):
    return {id(p) for p in params}


def test_param_group_membership():
    m = Small()
    g = split_param_groups(m)
    assert ids(g.norm) == ids([m.bn.weight, m.gn.weight, m.ln.weight])
    assert ids(g.weight) == ids([m.conv.weight, m.conv_b.weight, m.fc.weight, m.scale])
    assert ids(g.bias) == ids([m.bn.bias, m.conv_b.bias, m.gn.bias, m.ln.bias, m.fc.bias])
    total = len(g.norm) + len(g.weight) + len(g.bias)
    assert total == len(list(m.parameters()))  # every parameter exactly once


def test_norm_detection_is_generic():
    for layer in (nn.BatchNorm1d(2), nn.SyncBatchNorm(2), nn.InstanceNorm2d(2, affine=True), nn.LayerNorm(2)):
        assert is_norm_layer(layer)
    assert not is_norm_layer(nn.Conv2d(1, 1, 1))


def test_scaling_numbers():
    assert nominal_accumulate(16) == 4
    assert nominal_accumulate(32) == 2
    assert nominal_accumulate(128) == 1
    assert nominal_accumulate(24) == 3  # round(2.67)
    assert scaled_weight_decay(5e-4, 16) == pytest.approx(5e-4 * 16 * 4 / 64)  # = 5e-4
    assert scaled_weight_decay(5e-4, 24) == pytest.approx(5e-4 * 24 * 3 / 64)  # 5.625e-4
    assert scaled_weight_decay(5e-4, 128) == pytest.approx(1e-3)
    assert scaled_lr(0.02, 32, 32, 1) == pytest.approx(0.02)
    assert scaled_lr(0.02, 8, 32, 1) == pytest.approx(0.005)
    assert scaled_lr(0.02, 64, 32, 2) == pytest.approx(0.02)


def test_sgd_builder_groups_and_scaling():
    m = Small()
    opt = OPTIMIZERS.build({"type": "SGD", "lr": 0.02}, model=m, context={"batch_size": 24})
    assert isinstance(opt, torch.optim.SGD)
    assert [g["name"] for g in opt.param_groups] == ["norm", "weight", "bias"]
    wd = 5e-4 * 24 * 3 / 64
    assert [g["weight_decay"] for g in opt.param_groups] == [0.0, pytest.approx(wd), 0.0]
    lr = 0.02 * 24 / 32
    for g in opt.param_groups:
        assert g["lr"] == pytest.approx(lr) and g["initial_lr"] == pytest.approx(lr)
        assert g["momentum"] == 0.937 and g["initial_momentum"] == 0.937 and g["nesterov"]


def test_scaling_switches_and_no_batch_size():
    m = Small()
    opt = OPTIMIZERS.build(
        {"type": "SGD", "lr": 0.02, "scale_lr": False, "scale_weight_decay": False},
        model=m,
        context={"batch_size": 8},
    )
    assert opt.param_groups[1]["weight_decay"] == 5e-4 and opt.param_groups[1]["lr"] == 0.02
    opt = OPTIMIZERS.build({"type": "SGD", "lr": 0.02}, model=m)  # no batch size: nothing scaled
    assert opt.param_groups[1]["weight_decay"] == 5e-4 and opt.param_groups[1]["lr"] == 0.02


@pytest.mark.parametrize("name, cls", [("Adam", torch.optim.Adam), ("AdamW", torch.optim.AdamW)])
def test_adam_builders(name, cls):
    m = Small()
    opt = OPTIMIZERS.build({"type": name, "lr": 1e-3, "momentum": 0.9, "weight_decay": 0.01}, model=m)
    assert isinstance(opt, cls)
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.0, 0.01, 0.0]
    before = m.fc.weight.detach().clone()
    sum(p.sum() for p in m.parameters()).backward()
    opt.step()  # a real optimizer
    assert not torch.equal(before, m.fc.weight)


def test_model_without_norm_layers():
    opt = OPTIMIZERS.build({"type": "SGD"}, model=nn.Linear(2, 2))
    assert [len(g["params"]) for g in opt.param_groups] == [0, 1, 1]
