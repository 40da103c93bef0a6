"""Loss pieces of the semi-supervised hooks: weight ramps, pseudo-label selection, losses.

Plain functions on tensors (no model, no runner), so each is tested on hand-made values.
Shapes: ``[B, A, nc]`` class logits/scores and ``[B, A, 4]`` xyxy boxes (input pixels) of
the dense anchor-free outputs, ``[B, A]`` per-anchor values.

Finite by construction: a teacher box that is not finite or has no positive width and height
is never a box target (:func:`valid_boxes`), non-finite teacher scores count as 0, student
boxes are put in order before GIoU (:func:`ordered_boxes`), so every ``1 - GIoU`` lies in
``[0, 2]``; every division is by a count of selected anchors, at least 1 (see
:func:`selected_count`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from detreg.ops.boxes import bbox_iou

RAMPS = ("linear", "exp", "step")


def ramp_weight(it: int, start: int, ramp_iters: int, kind: str = "linear", weight: float = 1.0) -> float:
    """The unsupervised loss weight at iteration ``it`` (PaddleDetection's DenseTeacher ramps).

    0 before ``start``; then, with ``t = it - start`` and ``R = ramp_iters``: ``linear``:
    ``weight * t / R`` up to ``weight`` at ``t = R``; ``exp``: ``weight * exp((t - R) / (R / 2))``
    up to ``t = R`` (Paddle: R = 2000, /1000); ``step``: ``weight / 4`` until ``t = R``, then
    ``weight``. ``R = 0``: ``weight`` from ``start`` on.
    """
    if kind not in RAMPS:
        raise ValueError(f"ramp must be one of {RAMPS}, got {kind!r}")
    if it < start:
        return 0.0
    t = it - start
    if ramp_iters <= 0 or t >= ramp_iters:
        return float(weight)
    if kind == "linear":
        return weight * t / ramp_iters
    if kind == "exp":
        return weight * math.exp((t - ramp_iters) / (ramp_iters / 2))
    return weight * 0.25


def top_ratio_mask(scores: Tensor, ratio: float) -> Tensor:
    """``[B, A]`` bool: the top ``ratio`` of all anchors of the batch by ``scores`` ([B, A]).

    At least one anchor is selected; ties are broken by position (``torch.topk``).
    """
    flat = scores.reshape(-1)
    k = min(flat.numel(), max(1, int(round(ratio * flat.numel()))))
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask[flat.topk(k).indices] = True
    return mask.reshape(scores.shape)


def qfl_v2(student_logits: Tensor, teacher_probs: Tensor, positive: Tensor, beta: float = 2.0) -> Tensor:
    """DenseTeacher's quality focal loss (summed) over every anchor and class.

    Positive anchors (``positive`` [B, A]) learn the teacher's scores,
    ``BCE(s, t) * |t - sigmoid(s)|^beta``; every other anchor learns 0,
    ``BCE(s, 0) * sigmoid(s)^beta`` (the confident mistakes weigh most).
    """
    s = student_logits.float()
    p = s.sigmoid()
    t = teacher_probs.float()
    neg = F.binary_cross_entropy_with_logits(s, torch.zeros_like(s), reduction="none") * p.pow(beta)
    pos = F.binary_cross_entropy_with_logits(s, t, reduction="none") * (t - p).abs().pow(beta)
    keep = positive.unsqueeze(-1).expand_as(s)
    return torch.where(keep, pos, neg).sum()


def valid_boxes(boxes: Tensor) -> Tensor:
    """``[...]`` bool: xyxy boxes ``[..., 4]`` that are finite with positive width and height.

    The YOLOv6 head (without DFL) regresses raw, unbounded distances: an untrained teacher
    decodes boxes with ``x2 <= x1``, whose GIoU is meaningless (areas below 0, GIoU above 1)."""
    wh = boxes[..., 2:] - boxes[..., :2]
    return torch.isfinite(boxes).all(-1) & (wh > 0).all(-1)


def clean_scores(probs: Tensor) -> Tensor:
    """Teacher scores as float32 in ``[0, 1]``, non-finite ones as 0 (never selected)."""
    return torch.nan_to_num(probs.float(), nan=0.0, posinf=0.0, neginf=0.0).clamp(0.0, 1.0)


def ordered_boxes(boxes: Tensor) -> Tensor:
    """``boxes`` with ``x2 >= x1`` and ``y2 >= y1`` (``max(x2, x1)``): the student's decoded
    boxes are unbounded too; an inverted side gets its gradient through the other corner."""
    lo = boxes[..., :2]
    return torch.cat((lo, torch.maximum(boxes[..., 2:], lo)), -1)


def weighted_giou_loss(pred: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """``sum(weight * (1 - GIoU(pred, target)))`` over the rows of ``[n, 4]`` xyxy boxes.

    Rows whose target is not a valid box (:func:`valid_boxes`) or whose prediction is not
    finite are left out; predictions are ordered (:func:`ordered_boxes`), so each term is in
    ``[0, 2] * weight``."""
    keep = valid_boxes(target) & torch.isfinite(pred).all(-1)
    if not bool(keep.all()):
        pred, target, weight = pred[keep], target[keep], weight[keep]
    if pred.shape[0] == 0:
        return pred.float().sum() * 0.0
    giou = bbox_iou(ordered_boxes(pred.float()), target.float(), "giou")
    return ((1.0 - giou).clamp(0.0, 2.0) * weight).sum()


def selected_count(mask: Tensor) -> Tensor:
    """``max(1, mask.sum())`` as float: the normaliser of the unsupervised terms.

    The class terms sum over every anchor of the batch, so they are divided by a number that
    grows with the batch too: the count of pseudo-foreground anchors. PaddleDetection's
    DenseTeacher divides by the *sum of their teacher scores* instead; that equals the count
    for a confident teacher, but for an unsure one (scores ~0.01) it is ~1 and would amplify
    the background term of thousands of anchors. ARSL's class term, divided by the number
    of positives alone while summing over thousands of hard negatives, made BatchNorm
    statistics overflow in a 12-epoch benchmark run."""
    return mask.sum().clamp(min=1).float()


def box_term(
    student_boxes: Tensor, teacher_boxes: Tensor, mask: Tensor, weight: Tensor, denom: Tensor
) -> Tensor:
    """The box loss of DenseTeacher and ARSL: :func:`weighted_giou_loss` on the anchors of
    ``mask`` ([B, A]) with per-anchor ``weight`` ([B, A]), divided by ``denom`` (>= 1)."""
    return weighted_giou_loss(student_boxes[mask], teacher_boxes[mask], weight[mask]) / denom


def dense_teacher_loss(
    student_logits: Tensor,
    student_boxes: Tensor,
    teacher_probs: Tensor,
    teacher_boxes: Tensor,
    ratio: float = 0.01,
    cls_weight: float = 1.0,
    box_weight: float = 1.0,
) -> dict[str, Tensor]:
    """DenseTeacher on dense outputs: the top ``ratio`` anchors (teacher max score) are pseudo
    foreground; :func:`qfl_v2` on all anchors and GIoU (weighted by the teacher score) on the
    selected ones with a valid teacher box, each divided by the number of selected anchors
    (:func:`selected_count`). Returns ``cls``, ``box`` and their weighted
    sum ``loss`` (with the student's graph); ``num_fg`` detached.
    """
    t = clean_scores(teacher_probs)
    t_max = t.amax(-1)
    fg = top_ratio_mask(t_max, ratio)
    denom = selected_count(fg)
    l_cls = qfl_v2(student_logits, t, fg) / denom
    l_box = box_term(student_boxes, teacher_boxes, fg, t_max, denom)
    return {
        "loss": cls_weight * l_cls + box_weight * l_box,
        "cls": l_cls.detach(),
        "box": l_box.detach(),
        "num_fg": fg.sum().detach(),
    }


def dfl_certainty(reg: Tensor, reg_max: int) -> Tensor:
    """``[B, A]`` localisation quality of DFL box distributions ``[B, A, 4*(reg_max+1)]``:
    the mean over the four sides of the top-2 bin probability mass (1.0 without DFL).

    A sharp (certain) distribution puts its mass in two neighbouring bins: close to 1.
    """
    if reg_max <= 0:
        return reg.new_ones(reg.shape[:-1], dtype=torch.float32)
    prob = reg.float().reshape(*reg.shape[:-1], 4, reg_max + 1).softmax(-1)
    return prob.topk(2, -1).values.sum(-1).mean(-1)


def arsl_thresholds(joint: Tensor, neg_thr: float = 0.1, pos_cap: float = 0.5) -> tuple[float, float]:
    """ARSL's adaptive threshold: (negative, positive) with positive = mean + std of the joint
    confidences above ``neg_thr`` (the candidates), capped at ``pos_cap``, never below
    ``neg_thr``. No candidate: positive = ``pos_cap``.
    """
    cand = joint.detach()[joint.detach() > neg_thr].float()
    if cand.numel() == 0:
        return float(neg_thr), float(pos_cap)
    std = float(cand.std()) if cand.numel() > 1 else 0.0
    return float(neg_thr), max(float(neg_thr), min(float(pos_cap), float(cand.mean()) + std))


def arsl_loss(
    student_logits: Tensor,
    student_boxes: Tensor,
    teacher_probs: Tensor,
    teacher_boxes: Tensor,
    teacher_quality: Tensor,
    neg_thr: float = 0.1,
    pos_cap: float = 0.5,
    hard_neg_ratio: float = 0.5,
    cls_weight: float = 2.0,
    box_weight: float = 2.0,
) -> dict[str, Tensor]:
    """The ambiguity-resistant loss (ARSL) adapted to a YOLOv6 head.

    Joint confidence ``J = max class score * teacher_quality`` per anchor (the head has no
    IoU branch: quality comes from :func:`dfl_certainty`). Anchors with ``J >=`` the adaptive
    positive threshold (:func:`arsl_thresholds`) learn the teacher's scores and boxes (GIoU
    weighted by ``J``); ambiguous ones (between the thresholds) learn the teacher's scores
    scaled by ``J / max class score``, without box loss; negatives learn 0, and only the
    hardest ``hard_neg_ratio`` of them (the student's highest scores; at least as many as
    positives and ambiguous together) count. Class terms are BCE with a focal factor
    ``|target - p|^2``: the mean over the positive and ambiguous anchors plus the mean over
    the hard negatives (:func:`selected_count`); the box term is divided by the number of
    positives (at least 1).
    """
    s = student_logits.float()
    p = s.sigmoid()
    t = clean_scores(teacher_probs)
    t_max = t.amax(-1)
    joint = t_max * clean_scores(teacher_quality)
    neg_thr, pos_thr = arsl_thresholds(joint, neg_thr, pos_cap)
    pos = joint >= pos_thr
    amb = (joint > neg_thr) & ~pos
    neg = ~(pos | amb)
    target = torch.zeros_like(t)
    target[pos] = t[pos]
    scale = (joint / t_max.clamp(min=1e-6)).unsqueeze(-1)
    target[amb] = (t * scale)[amb]
    per = F.binary_cross_entropy_with_logits(s, target, reduction="none") * (target - p).abs().pow(2)
    per_anchor = per.sum(-1)
    n_neg = int(neg.sum())
    keep_neg = min(n_neg, max(int(round(hard_neg_ratio * n_neg)), int(pos.sum() + amb.sum())))
    hard = torch.zeros_like(neg)
    if keep_neg > 0:
        hardness = torch.where(neg, p.detach().amax(-1), torch.full_like(t_max, -1.0))
        hard.view(-1)[hardness.reshape(-1).topk(keep_neg).indices] = True
    # two means, so that neither grows with the anchors of the batch (the hard negatives
    # are at least half of all negatives: thousands when the teacher finds nothing)
    fg = pos | amb
    l_cls = (per_anchor * fg).sum() / selected_count(fg) + (per_anchor * hard).sum() / selected_count(hard)
    l_box = box_term(student_boxes, teacher_boxes, pos, joint, selected_count(pos))
    return {
        "loss": cls_weight * l_cls + box_weight * l_box,
        "cls": l_cls.detach(),
        "box": l_box.detach(),
        "pos_thr": torch.tensor(pos_thr),
        "num_pos": pos.sum().detach(),
    }


def pseudo_targets(
    detections: list[Tensor], img_hw: tuple[int, int], score_thr: float = 0.7
) -> tuple[Tensor, Tensor, Tensor]:
    """Hard pseudo boxes from per-image detections ``[n, 6]`` (x1, y1, x2, y2, score, cls).

    Returns ``targets [N, 6]`` (image index, class, cx, cy, w, h normalised by ``img_hw``),
    their ``scores [N]`` and ``keep [B]`` (images with at least one box). Boxes scoring
    below ``score_thr``, empty and non-finite boxes are dropped; image indices count kept
    images only.
    """
    h, w = img_hw
    rows, scores, keep = [], [], []
    for det in detections:
        det = det.float()
        det = det[(det[:, 4] >= score_thr) & valid_boxes(det[:, :4]) & torch.isfinite(det[:, 4:]).all(1)]
        keep.append(det.shape[0] > 0)
        if det.shape[0] == 0:
            continue
        x1, y1, x2, y2 = det[:, 0], det[:, 1], det[:, 2], det[:, 3]
        idx = torch.full_like(x1, float(len(rows)))
        rows.append(
            torch.stack(
                (idx, det[:, 5], (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h), 1
            )
        )
        scores.append(det[:, 4])
    dev = detections[0].device if detections else torch.device("cpu")
    targets = torch.cat(rows) if rows else torch.zeros(0, 6, device=dev)
    score = torch.cat(scores) if scores else torch.zeros(0, device=dev)
    return targets, score, torch.tensor(keep, dtype=torch.bool, device=dev)
