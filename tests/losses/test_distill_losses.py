"""Distillation loss terms on hand-made tensors: zero at agreement, worked-out values."""

from __future__ import annotations

import math

import pytest
import torch

from detreg.losses.distill import cwd_loss, distill_weight, kd_cls_loss, kd_dfl_loss

LN3 = math.log(3.0)


def kl_two(p: float, q: float) -> float:
    """KL([p, 1-p] || [q, 1-q]) by hand."""
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def soft2(a: float, b: float, t: float) -> float:
    """First entry of softmax([a, b] / t)."""
    return 1.0 / (1.0 + math.exp((b - a) / t))


def test_every_term_is_zero_when_teacher_and_student_agree() -> None:
    torch.manual_seed(0)
    cls = torch.randn(2, 7, 3)
    reg = torch.randn(2, 7, 4 * 17)
    fg = torch.rand(2, 7) > 0.5
    feats = [torch.randn(2, 4, 5, 5), torch.randn(2, 4, 3, 3)]
    assert float(kd_cls_loss(cls, cls.clone())) == pytest.approx(0.0, abs=1e-6)
    assert float(kd_cls_loss(cls, cls.clone(), on="logits")) == pytest.approx(0.0, abs=1e-6)
    weight = torch.rand(int(fg.sum()))
    assert float(kd_dfl_loss(reg, reg.clone(), fg, weight, 3.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(cwd_loss(feats, [f.clone() for f in feats])) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_kd_cls_worked_value_on_logits(temperature: float) -> None:
    # one image, two anchors: the first differs (teacher logits [ln3, 0]), the second agrees
    student = torch.tensor([[[0.0, 0.0], [1.0, -1.0]]])
    teacher = torch.tensor([[[LN3, 0.0], [1.0, -1.0]]])
    expected = kl_two(soft2(LN3, 0, temperature), 0.5) * temperature**2
    got = kd_cls_loss(student, teacher, temperature=temperature, on="logits")
    assert float(got) == pytest.approx(expected, rel=1e-5)
    # a batch of two such images: the mean over images, not the sum
    got2 = kd_cls_loss(student.repeat(2, 1, 1), teacher.repeat(2, 1, 1), temperature, on="logits")
    assert float(got2) == pytest.approx(expected, rel=1e-5)


def test_kd_cls_on_scores_softens_the_sigmoid_scores() -> None:
    student = torch.tensor([[[0.0, 0.0]]])  # scores 0.5, 0.5
    teacher = torch.tensor([[[LN3, 0.0]]])  # scores 0.75, 0.5
    t = 20.0
    expected = kl_two(soft2(0.75, 0.5, t), 0.5) * t**2
    # fp32: at T = 20 the KL of near-uniform distributions keeps about 3 digits
    assert float(kd_cls_loss(student, teacher, temperature=t)) == pytest.approx(expected, rel=2e-3)
    # one class: the distribution over classes is always [1]
    assert float(kd_cls_loss(torch.randn(1, 5, 1), torch.randn(1, 5, 1))) == 0.0


def test_kd_dfl_only_foreground_weighted_and_normalised() -> None:
    # reg_max = 1 (two bins a side); anchor 0 is background and differs wildly, anchor 1
    # is foreground with teacher bins [ln3, 0] on every side against the student's [0, 0]
    student = torch.zeros(1, 2, 8)
    teacher = torch.tensor([[[9.0, -9.0] * 4, [LN3, 0.0] * 4]])
    fg = torch.tensor([[False, True]])
    weight = torch.tensor([0.5])
    got = kd_dfl_loss(student, teacher, fg, weight, normalizer=2.0, temperature=1.0)
    assert float(got) == pytest.approx(kl_two(0.75, 0.5) * 0.5 / 2.0, rel=1e-5)
    # any reg_max: 3 bins a side, teacher [ln3, 0, 0] -> softmax [3/5, 1/5, 1/5] vs uniform
    s3, t3 = torch.zeros(1, 1, 12), torch.tensor([[[LN3, 0.0, 0.0] * 4]])
    kl3 = 0.6 * math.log(0.6 * 3) + 0.4 * math.log(0.2 * 3)
    got3 = kd_dfl_loss(s3, t3, torch.tensor([[True]]), torch.tensor([1.0]), 1.0, temperature=1.0)
    assert float(got3) == pytest.approx(kl3, rel=1e-5)
    # no foreground: zero, still on the graph
    s = torch.zeros(1, 2, 8, requires_grad=True)
    none = kd_dfl_loss(s, teacher, torch.zeros(1, 2, dtype=torch.bool), torch.zeros(0), 1.0)
    assert float(none.detach()) == 0.0 and none.requires_grad


def test_cwd_worked_value() -> None:
    # one image, two channels over 1x2 positions; channel 0 differs, channel 1 agrees
    student = [torch.tensor([[[[0.0, 0.0]], [[2.0, 1.0]]]])]
    teacher = [torch.tensor([[[[LN3, 0.0]], [[2.0, 1.0]]]])]
    assert float(cwd_loss(student, teacher)) == pytest.approx(kl_two(0.75, 0.5) / 2, rel=1e-5)
    # levels add up; tau scales as tau^2 * KL at tau
    got = cwd_loss(student * 2, teacher * 2, tau=2.0)
    assert float(got) == pytest.approx(2 * 4 * kl_two(soft2(LN3, 0, 2.0), 0.5) / 2, rel=1e-5)
    with pytest.raises(ValueError, match="feature shapes differ"):
        cwd_loss([torch.zeros(1, 2, 3, 3)], [torch.zeros(1, 4, 3, 3)])


def test_gradient_reaches_the_student_and_pulls_towards_the_teacher() -> None:
    student = torch.zeros(1, 1, 2, requires_grad=True)
    teacher = torch.tensor([[[LN3, 0.0]]])
    kd_cls_loss(student, teacher, temperature=1.0, on="logits").backward()
    assert student.grad[0, 0, 0] < 0 < student.grad[0, 0, 1]  # descent raises logit 0


def test_cosine_schedule_at_start_middle_and_end() -> None:
    epochs = 10
    assert distill_weight(0, epochs) == pytest.approx(1.0)
    assert distill_weight(epochs // 2, epochs) == pytest.approx(0.505)
    last = ((1 - math.cos(math.pi * 9 / 10)) / 2) * (0.01 - 1) + 1
    assert distill_weight(epochs - 1, epochs) == pytest.approx(last) and last < 0.04
    assert distill_weight(epochs, epochs) == pytest.approx(0.01)
    assert distill_weight(3, epochs, schedule="constant") == 1.0
    assert distill_weight(5, epochs, final=0.5) == pytest.approx(0.75)
