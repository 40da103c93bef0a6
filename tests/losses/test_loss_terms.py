"""VFL, IoU loss and DFL on tiny hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from detreg.losses.dfl import DFLoss
from detreg.losses.iou import IoULoss
from detreg.losses.varifocal import VarifocalLoss
from detreg.registry import LOSSES


def test_vfl_tiny_case():
    # anchor 0: logits (0, 0) -> p = 0.5; class 0 is foreground with q = 0.8:
    #   class 0: BCE(0.5, 0.8) = ln 2, weight q*y = 0.8
    #   class 1: BCE(0.5, 0) = ln 2, weight alpha*p^2 = 0.75 * 0.25 = 0.1875
    # anchor 1: background, logit ln 9 -> p = 0.9: BCE(0.9, 0) = ln 10, weight 0.75 * 0.81
    logits = torch.tensor([[0.0, 0.0], [math.log(9.0), -50.0]])
    q = torch.tensor([[0.8, 0.0], [0.0, 0.0]])
    y = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    expected = (0.8 + 0.1875) * math.log(2) + 0.75 * 0.81 * math.log(10)
    assert VarifocalLoss()(logits, q, y).item() == pytest.approx(expected, rel=1e-5)
    # YOLOv6's form, on probabilities, agrees
    probs = logits.sigmoid()
    assert VarifocalLoss(from_logits=False)(probs, q, y).item() == pytest.approx(expected, rel=1e-4)


def test_vfl_is_fp32_and_differentiable_under_half_inputs():
    logits = torch.zeros(3, 4, dtype=torch.bfloat16, requires_grad=True)
    loss = VarifocalLoss()(logits, torch.zeros(3, 4), torch.zeros(3, 4))
    assert loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(logits.grad.float()).all()


def test_iou_loss_values_and_reduction():
    a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 2, 2]])
    b = torch.tensor([[1.0, 1, 3, 3], [0, 0, 2, 2]])
    # GIoU of the shifted square = -5/63 (see tests/ops/test_ops_boxes.py); identical boxes 1
    assert torch.allclose(IoULoss("giou")(a, b), torch.tensor([1 + 5 / 63, 0.0]), atol=1e-5)
    assert IoULoss("iou", reduction="mean")(a, b).item() == pytest.approx((1 - 1 / 7) / 2, abs=1e-5)
    with pytest.raises(ValueError):
        IoULoss("xiou")


def test_dfl_integer_target():
    # target 2 with 5 bins: all weight on bin 2 (left 2, right 3, weights 1 and 0).
    # logits (0, 0, ln 4, 0, 0): p2 = 4/8 -> CE = ln 2
    logits = torch.tensor([0.0, 0.0, math.log(4.0), 0.0, 0.0]).repeat(1, 4, 1)
    assert DFLoss()(logits, torch.full((1, 4), 2.0)).item() == pytest.approx(math.log(2), rel=1e-5)
    # uniform logits: ln 5 whatever the target
    assert DFLoss()(torch.zeros(1, 4, 5), torch.full((1, 4), 3.0)).item() == pytest.approx(
        math.log(5), rel=1e-5
    )


def test_dfl_fractional_target_and_flat_input():
    # target 1.25: left 1 (weight 0.75), right 2 (weight 0.25); p1 = 1/8, p2 = 1/2
    # -> 0.75 ln 8 + 0.25 ln 2
    logits = torch.tensor([0.0, 0.0, math.log(4.0), 0.0, 0.0]).repeat(1, 4, 1)
    expected = 0.75 * math.log(8) + 0.25 * math.log(2)
    assert DFLoss()(logits, torch.full((1, 4), 1.25)).item() == pytest.approx(expected, rel=1e-5)
    assert DFLoss()(logits.reshape(1, 20), torch.full((1, 4), 1.25)).item() == pytest.approx(
        expected, rel=1e-5
    )


def test_dfl_clips_target_and_registry_alias():
    # target 9 with 5 bins (reg_max 4) clips to 3.99: 0.01 CE(3) + 0.99 CE(4); uniform -> ln 5
    loss = LOSSES.build({"type": "DistributionFocalLoss"})
    assert loss(torch.zeros(2, 4, 5), torch.full((2, 4), 9.0)).tolist() == pytest.approx([math.log(5)] * 2)
    logits = torch.zeros(1, 4, 5, requires_grad=True)
    DFLoss()(logits, torch.full((1, 4), 9.0)).sum().backward()
    # d/dlogit_j = (p_j - w_j) / 4 sides, p = 0.2, w = (0, 0, 0, 0.01, 0.99): bin 4 is pushed up
    g = logits.grad[0, 0]
    assert torch.allclose(g, torch.tensor([0.2, 0.2, 0.2, 0.19, 0.2 - 0.99]) / 4)
