"""``PseudoBoxHook``: hard pseudo boxes from a teacher through the normal detector loss
(the Semi-RTDETR recipe of PaddleDetection, made detector-agnostic)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from detreg.assigners.targets import pad_targets
from detreg.engine.hook import RunnerContract
from detreg.errors import DetregError
from detreg.hooks.semi_base import SemiSupervisedHook
from detreg.losses.semi import pseudo_targets
from detreg.losses.varifocal import VarifocalLoss
from detreg.ops.nms import postprocess
from detreg.registry import HOOKS

#: The loss attributes holding label assigners (YOLOv6Loss); each is wrapped by :class:`ScoredAssigner`.
ASSIGNER_ATTRS = ("assigner", "warmup_assigner", "ab_assigner")


class ScoredAssigner:
    """An assigner whose target scores are multiplied by the matched gt's ``gt_scores [B, M]``
    (the teacher's confidence: a pseudo box of score 0.8 teaches at most 0.8)."""

    def __init__(self, base: Any, gt_scores: Tensor) -> None:
        self.base, self.gt_scores = base, gt_scores

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        res = self.base(*args, **kwargs)
        if self.gt_scores.shape[1] == 0:
            return res
        factor = self.gt_scores.to(res.scores.device).gather(1, res.gt_idx)
        factor = torch.where(res.fg_mask, factor, torch.ones_like(factor))
        res.scores = res.scores * factor.unsqueeze(-1).to(res.scores.dtype)
        return res


@contextmanager
def soft_gt_scores(loss: Any, gt_scores: Tensor) -> Iterator[None]:
    """While inside, ``loss``'s assigners scale their target scores by ``gt_scores``."""
    saved = {n: getattr(loss, n) for n in ASSIGNER_ATTRS if getattr(loss, n, None) is not None}
    try:
        for name, base in saved.items():
            setattr(loss, name, ScoredAssigner(base, gt_scores))
        yield
    finally:
        for name, base in saved.items():
            setattr(loss, name, base)


class NegWeightedClsLoss(nn.Module):
    """A :class:`~detreg.losses.varifocal.VarifocalLoss` whose background term is weighted per
    anchor by ``neg_weight [B, A]``, in the calls whose predictions have those ``B x A``
    anchors (an auxiliary branch with other anchors gets the plain loss)."""

    def __init__(self, base: VarifocalLoss, neg_weight: Tensor) -> None:
        super().__init__()
        self.base, self.neg_weight = base, neg_weight

    def forward(self, pred: Tensor, target_score: Tensor, label: Tensor) -> Tensor:
        """The base loss, with ``neg_weight`` where the anchors match."""
        if tuple(self.neg_weight.shape) == tuple(pred.shape[:2]):
            weight = self.neg_weight.to(pred.device).unsqueeze(-1)
            return self.base(pred, target_score, label, neg_weight=weight)
        return self.base(pred, target_score, label)


@contextmanager
def weighted_negatives(loss: Any, neg_weight: Tensor) -> Iterator[None]:
    """While inside, ``loss.cls_loss`` weights each anchor's background term by ``neg_weight``."""
    base = loss.cls_loss
    loss.cls_loss = NegWeightedClsLoss(base, neg_weight)
    try:
        yield
    finally:
        loss.cls_loss = base


@HOOKS.register()
class PseudoBoxHook(SemiSupervisedHook):
    """Teacher detections on the weak view scoring ``>= score_thr`` (after NMS) become the
    student's targets on the strong view, through the model's own loss, with the teacher's
    score as the soft target (each matched anchor's target score is scaled by it).

    Images without pseudo boxes contribute nothing: they are left out of the student's
    forward; when no image has one, the student still runs on the batch and its loss is
    multiplied by 0 (so under DDP every parameter still gets its gradient). PaddleDetection
    starts the teacher from the converged supervised checkpoint: give ``teacher_weights``
    (and ``student_weights``) and ``ema_start``/``semi_start`` 0.

    Args (besides :class:`~detreg.hooks.semi_base.SemiSupervisedHook`'s):
        score_thr: the pseudo-box score threshold (PaddleDetection: 0.7).
        iou_thr: NMS IoU threshold of the teacher's detections.
        soft_target: scale the target scores by the teacher's score (else hard targets).
        ignore_thr: leave out of the background loss every anchor whose teacher score (its
            highest class score) is at least this: the objects the teacher half-sees, below
            ``score_thr``, are then not taught as background. None (default): every anchor
            that is not a pseudo box's positive is background, as in PaddleDetection. Needs
            the model's ``cls_loss`` to be ``VarifocalLoss`` (YOLOv6's).
    """

    def __init__(
        self,
        score_thr: float = 0.7,
        iou_thr: float = 0.65,
        soft_target: bool = True,
        ignore_thr: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 < score_thr <= 1.0:
            raise ValueError(f"score_thr must be in (0, 1], got {score_thr}")
        if ignore_thr is not None and not 0.0 < ignore_thr <= 1.0:
            raise ValueError(f"ignore_thr must be in (0, 1], got {ignore_thr}")
        self.score_thr, self.iou_thr, self.soft_target = score_thr, iou_thr, soft_target
        self.ignore_thr = ignore_thr

    def before_train(self, runner: RunnerContract) -> None:
        """Check that ``ignore_thr`` has a loss to work on, then as every semi-supervised hook."""
        loss = getattr(runner.unwrapped_model, "loss", None)
        if self.ignore_thr is not None and not isinstance(getattr(loss, "cls_loss", None), VarifocalLoss):
            raise DetregError(
                f"hooks: PseudoBoxHook.ignore_thr needs the model's cls_loss to be VarifocalLoss, "
                f"not {type(getattr(loss, 'cls_loss', None)).__name__}"
            )
        super().before_train(runner)

    def unsup_loss(
        self, runner: RunnerContract, weak: Tensor, strong: Tensor
    ) -> tuple[Tensor, dict[str, Any]]:
        """The model's loss on the strong views of the images with pseudo boxes."""
        with torch.no_grad():
            pred = self.teacher.module(weak).float()
            dets = postprocess(pred, self.score_thr, self.iou_thr)
        targets, scores, keep = pseudo_targets(dets, tuple(weak.shape[-2:]), self.score_thr)
        some = bool(keep.any())
        images = strong[keep] if some else strong
        loss_fn = runner.unwrapped_model.loss
        parts = {"boxes": float(targets.shape[0]) / max(1, weak.shape[0])}
        with ExitStack() as stack:
            if self.soft_target and targets.shape[0]:
                gt_scores = pad_targets(
                    torch.cat((targets[:, :1], scores[:, None], targets[:, 2:]), 1),
                    images.shape[0],
                    images.shape[-2:],
                )[0].squeeze(-1)
                stack.enter_context(soft_gt_scores(loss_fn, gt_scores))
            if self.ignore_thr is not None:
                unsure = pred[..., 4:].amax(-1) >= self.ignore_thr  # [B, A]
                unsure = unsure[keep] if some else unsure
                parts["ignored"] = float(unsure.float().mean())
                stack.enter_context(weighted_negatives(loss_fn, (~unsure).float()))
            losses, _ = self.student_forward(runner, images, targets)
        loss = losses["loss"] if targets.shape[0] else losses["loss"] * 0.0
        return loss, parts
