"""Knowledge-distillation loss terms (YOLOv6 self-distillation) and their weight schedule.

All three compare a student's raw training outputs with a frozen teacher's (see
:class:`detreg.hooks.distill.DistillHook`); each is zero when the two agree. They compute
in fp32 whatever the autocast dtype of their inputs.

- :func:`kd_cls_loss`: class-score KD, ``T^2 * KL(softmax(t/T) || softmax(s/T))`` over the
  class axis of each anchor, summed over the anchors of an image, mean over the images.
- :func:`kd_dfl_loss`: the same KL over the ``reg_max + 1`` bins of each box side, on the
  foreground anchors only, weighted per anchor and normalised as the box loss is.
- :func:`cwd_loss`: channel-wise distillation of feature maps: per channel a softmax over
  the spatial positions, ``tau^2 * KL``, summed and divided by ``N * C`` per level.
- :func:`distill_weight`: YOLOv6's cosine decay of the distillation weight, 1 -> ``final``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor


def _kl(teacher_logits: Tensor, student_logits: Tensor, temperature: float) -> Tensor:
    """``KL(softmax(t/T) || softmax(s/T))`` over the last axis (fp32), one value per row."""
    log_pt = F.log_softmax(teacher_logits.float() / temperature, -1)
    log_ps = F.log_softmax(student_logits.float() / temperature, -1)
    return (log_pt.exp() * (log_pt - log_ps)).sum(-1)


def kd_cls_loss(
    student: Tensor,
    teacher: Tensor,
    temperature: float = 20.0,
    on: Literal["scores", "logits"] = "scores",
) -> Tensor:
    """Class-score KD of ``[B, A, nc]`` class logits: ``T^2 * sum_A KL / B``.

    ``on="scores"`` (YOLOv6) softens the sigmoid scores; ``"logits"`` the raw logits (which
    also weighs how sure each model is that a cell is background). With one class the
    distribution over classes is trivially 1 and the term is 0.
    """
    if on == "scores":
        student, teacher = student.float().sigmoid(), teacher.float().sigmoid()
    elif on != "logits":
        raise ValueError(f"on must be 'scores' or 'logits', got {on!r}")
    kl = _kl(teacher, student, temperature)  # [B, A]
    return kl.sum() * temperature**2 / max(student.shape[0], 1)


def kd_dfl_loss(
    student: Tensor,
    teacher: Tensor,
    fg_mask: Tensor,
    weight: Tensor,
    normalizer: Tensor | float,
    temperature: float = 20.0,
) -> Tensor:
    """DFL KD of ``[B, A, 4*(reg_max+1)]`` box distributions on the foreground anchors.

    Per foreground anchor: ``T^2 * KL`` over the bins of each side, mean over the 4 sides,
    times ``weight`` (``[P]``, the box-loss weight of each foreground anchor, in
    ``fg_mask [B, A]`` order), summed and divided by ``normalizer`` (the box loss's sum of
    target scores). Any ``reg_max``; zero (on the graph) without foreground anchors.
    """
    if student.shape != teacher.shape or student.shape[-1] % 4:
        shapes = f"student {tuple(student.shape)}, teacher {tuple(teacher.shape)}"
        raise ValueError(f"box distributions differ in shape: {shapes}")
    if not bool(fg_mask.any()):
        return student.sum() * 0.0
    bins = student.shape[-1] // 4
    s = student.reshape(*student.shape[:-1], 4, bins)[fg_mask]
    t = teacher.reshape(*teacher.shape[:-1], 4, bins)[fg_mask]
    per_anchor = _kl(t, s, temperature).mean(-1) * temperature**2  # [P]
    return (per_anchor * weight.float()).sum() / normalizer


def cwd_loss(student: Sequence[Tensor], teacher: Sequence[Tensor], tau: float = 1.0) -> Tensor:
    """Channel-wise distillation over feature levels of equal shapes ``[N, C, H, W]``.

    Per level: each channel's map is a distribution (softmax over ``H*W`` at temperature
    ``tau``); ``tau^2 * KL(teacher || student)`` summed over channels and images, divided by
    ``N * C``. The levels are summed.
    """
    if len(student) != len(teacher):
        raise ValueError(f"{len(student)} student levels but {len(teacher)} teacher levels")
    total = student[0].new_zeros((), dtype=torch.float32)
    for s, t in zip(student, teacher):
        if s.shape != t.shape:
            raise ValueError(f"feature shapes differ: student {tuple(s.shape)}, teacher {tuple(t.shape)}")
        n, c = s.shape[:2]
        kl = _kl(t.reshape(n, c, -1), s.reshape(n, c, -1), tau)  # [N, C]
        total = total + kl.sum() * tau**2 / (n * c)
    return total


def distill_weight(
    epoch: int, epochs: int, final: float = 0.01, schedule: Literal["cosine", "constant"] = "cosine"
) -> float:
    """The distillation weight at ``epoch`` (0-based) of ``epochs``.

    ``cosine`` (YOLOv6): ``((1 - cos(pi * epoch / epochs)) / 2) * (final - 1) + 1``, 1 at the
    start, ``final`` at ``epochs``; ``constant``: 1.
    """
    if schedule == "constant":
        return 1.0
    if schedule != "cosine":
        raise ValueError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
    return ((1 - math.cos(math.pi * epoch / max(epochs, 1))) / 2) * (final - 1) + 1
