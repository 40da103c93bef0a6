"""``ARSLHook``: ambiguity-resistant semi-supervised learning (ARSL) on a YOLOv6 head."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from detreg.engine.hook import RunnerContract
from detreg.hooks.semi_base import SemiSupervisedHook
from detreg.losses.semi import arsl_loss, dfl_certainty
from detreg.registry import HOOKS


@HOOKS.register()
class ARSLHook(SemiSupervisedHook):
    """ARSL adapted to the YOLOv6 head (:func:`~detreg.losses.semi.arsl_loss`).

    Burn-in: supervised only until ``semi_start`` (PaddleDetection: 30000 iterations, with
    ``ema_start`` the same: the teacher becomes the student then). The joint confidence is
    the teacher's class score times its localisation quality (the sharpness of its DFL box
    distribution: YOLOv6 has no IoU branch); the positive threshold adapts per batch (mean
    + std of the candidates above ``neg_thr``, capped at ``pos_cap``); hard negatives are
    mined (``hard_neg_ratio``).

    Args (besides :class:`~detreg.hooks.semi_base.SemiSupervisedHook`'s):
        neg_thr, pos_cap, hard_neg_ratio: see :func:`~detreg.losses.semi.arsl_loss`.
        cls_weight, box_weight: PaddleDetection's 2 and 2.
    """

    def __init__(
        self,
        neg_thr: float = 0.1,
        pos_cap: float = 0.5,
        hard_neg_ratio: float = 0.5,
        cls_weight: float = 2.0,
        box_weight: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= neg_thr < pos_cap <= 1.0:
            raise ValueError(f"need 0 <= neg_thr < pos_cap <= 1, got {neg_thr}, {pos_cap}")
        self.neg_thr, self.pos_cap, self.hard_neg_ratio = neg_thr, pos_cap, hard_neg_ratio
        self.cls_weight, self.box_weight = cls_weight, box_weight

    def unsup_loss(
        self, runner: RunnerContract, weak: Tensor, strong: Tensor
    ) -> tuple[Tensor, dict[str, Any]]:
        """ARSL's loss of the student on ``strong`` against the teacher on ``weak``."""
        teacher = self.teacher_outputs(weak)
        head = self.teacher.module.head
        t_dec = head.decode(teacher)
        quality = dfl_certainty(teacher["reg"], int(getattr(head, "reg_max", 0)) if head.use_dfl else 0)
        _, student = self.student_forward(runner, strong)
        s_boxes = runner.unwrapped_model.head.decode(student)[..., :4]
        out = arsl_loss(
            student["cls"],
            s_boxes,
            t_dec[..., 4:],
            t_dec[..., :4],
            quality,
            self.neg_thr,
            self.pos_cap,
            self.hard_neg_ratio,
            self.cls_weight,
            self.box_weight,
        )
        return out["loss"], {"cls": out["cls"], "box": out["box"], "pos_thr": out["pos_thr"]}
