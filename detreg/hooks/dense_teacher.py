"""``DenseTeacherHook``: dense pseudo-labels from an EMA teacher (DenseTeacher, on a YOLOv6 head)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from detreg.engine.hook import RunnerContract
from detreg.hooks.semi_base import SemiSupervisedHook
from detreg.losses.semi import dense_teacher_loss
from detreg.registry import HOOKS


@HOOKS.register()
class DenseTeacherHook(SemiSupervisedHook):
    """DenseTeacher: supervised only before ``semi_start``; then the top ``ratio`` of anchors
    by the teacher's max class score (on the weak view) are pseudo foreground for the
    student (on the strong view): quality-focal class loss against the teacher scores on
    all anchors, GIoU on the selected anchors (:func:`~detreg.losses.semi.dense_teacher_loss`),
    times the ramped ``unsup_weight``.

    Args (besides :class:`~detreg.hooks.semi_base.SemiSupervisedHook`'s):
        ratio: the pseudo-foreground share of anchors (PaddleDetection: 0.01).
        cls_weight, box_weight: weights of the two terms (PaddleDetection: 4 and 1 for FCOS).
    """

    def __init__(
        self, ratio: float = 0.01, cls_weight: float = 1.0, box_weight: float = 1.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 < ratio <= 1.0:
            raise ValueError(f"ratio must be in (0, 1], got {ratio}")
        self.ratio = ratio
        self.cls_weight = cls_weight
        self.box_weight = box_weight

    def unsup_loss(
        self, runner: RunnerContract, weak: Tensor, strong: Tensor
    ) -> tuple[Tensor, dict[str, Any]]:
        """DenseTeacher's loss of the student on ``strong`` against the teacher on ``weak``."""
        teacher = self.teacher_outputs(weak)
        t_dec = self.teacher.module.head.decode(teacher)
        _, student = self.student_forward(runner, strong)
        s_boxes = runner.unwrapped_model.head.decode(student)[..., :4]
        out = dense_teacher_loss(
            student["cls"],
            s_boxes,
            t_dec[..., 4:],
            t_dec[..., :4],
            self.ratio,
            self.cls_weight,
            self.box_weight,
        )
        return out["loss"], {"cls": out["cls"], "box": out["box"]}
