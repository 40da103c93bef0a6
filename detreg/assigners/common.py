"""Pieces shared by the label assigners: the result type, gt checks, conflict resolution."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from detreg.errors import DetregError


@dataclass
class AssignResult:
    """Per-anchor training targets for a batch.

    ``labels [B,A]`` class index, ``num_classes`` for background; ``bboxes [B,A,4]`` xyxy
    pixels of the matched gt (zeros for background); ``scores [B,A,C]`` soft one-hot
    target scores; ``fg_mask [B,A]`` bool; ``gt_idx [B,A]`` matched gt slot (0 for background).
    """

    labels: Tensor
    bboxes: Tensor
    scores: Tensor
    fg_mask: Tensor
    gt_idx: Tensor


def empty_result(batch: int, num_anchors: int, num_classes: int, like: Tensor) -> AssignResult:
    """All-background targets (a batch without any ground truth)."""
    dev, dt = like.device, like.dtype
    return AssignResult(
        labels=torch.full((batch, num_anchors), num_classes, dtype=torch.long, device=dev),
        bboxes=torch.zeros(batch, num_anchors, 4, dtype=dt, device=dev),
        scores=torch.zeros(batch, num_anchors, num_classes, dtype=dt, device=dev),
        fg_mask=torch.zeros(batch, num_anchors, dtype=torch.bool, device=dev),
        gt_idx=torch.zeros(batch, num_anchors, dtype=torch.long, device=dev),
    )


def check_gts(gt_labels: Tensor, gt_bboxes: Tensor, mask_gt: Tensor, num_classes: int) -> None:
    """Raise :class:`DetregError` for a real (unpadded) gt that is non-finite, has x2 < x1 or
    y2 < y1, or a class outside ``[0, num_classes)``. Zero-width boxes are allowed (they
    simply get no anchors)."""
    if gt_bboxes.ndim != 3 or gt_bboxes.shape[-1] != 4:
        raise DetregError(f"gt_bboxes must be [B, M, 4], got {tuple(gt_bboxes.shape)}")
    valid = mask_gt.reshape(gt_bboxes.shape[:2]).bool()
    boxes, labels = gt_bboxes[valid], gt_labels.reshape(gt_bboxes.shape[:2])[valid]
    if boxes.numel() == 0:
        return
    bad = ~torch.isfinite(boxes).all(-1) | (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bad.any():
        first = boxes[bad][0].tolist()
        raise DetregError(
            f"{int(bad.sum())} degenerate ground-truth box(es) (non-finite, or x2 < x1 / y2 < y1), "
            f"e.g. xyxy {first}; fix the labels or filter them in the dataset"
        )
    bad_cls = ~torch.isfinite(labels) | (labels < 0) | (labels >= num_classes)
    if bad_cls.any():
        raise DetregError(
            f"ground-truth class {labels[bad_cls][0].item()} is outside [0, {num_classes}) "
            f"(num_classes={num_classes})"
        )


def points_in_boxes(points: Tensor, boxes: Tensor, eps: float = 1e-9) -> Tensor:
    """``[B,M,A]`` bool: anchor point ``points [A,2]`` strictly inside gt ``boxes [B,M,4]``."""
    p = points[None, None]
    b = boxes[:, :, None]
    d = torch.cat((p - b[..., :2], b[..., 2:] - p), -1)
    return d.amin(-1) > eps


def resolve_conflicts(mask_pos: Tensor, overlaps: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """An anchor claimed by several gts keeps the claimant with the highest overlap.

    ``mask_pos [B,M,A]`` bool, ``overlaps [B,M,A]``. Returns ``(gt_idx [B,A], fg [B,A],
    mask_pos [B,M,A])`` with at most one gt per anchor. (Only gts that claimed the anchor
    compete, so an anchor never moves to a gt that did not select it.)
    """
    num_gt = mask_pos.shape[1]
    multi = mask_pos.sum(1) > 1
    if multi.any():
        best = torch.where(mask_pos, overlaps, overlaps.new_tensor(-1.0)).argmax(1)
        one = F.one_hot(best, num_gt).permute(0, 2, 1).bool()
        mask_pos = torch.where(multi[:, None, :], one, mask_pos)
    fg = mask_pos.any(1)
    gt_idx = mask_pos.to(torch.uint8).argmax(1)
    return gt_idx, fg, mask_pos


def gather_targets(
    gt_labels: Tensor, gt_bboxes: Tensor, gt_idx: Tensor, fg: Tensor, num_classes: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Labels ``[B,A]`` (background = num_classes), boxes ``[B,A,4]``, one-hot scores ``[B,A,C]``."""
    batch, num_gt = gt_bboxes.shape[:2]
    flat = gt_idx + torch.arange(batch, device=gt_idx.device)[:, None] * num_gt
    labels = gt_labels.reshape(-1)[flat].long()
    labels = torch.where(fg, labels, torch.full_like(labels, num_classes))
    bboxes = gt_bboxes.reshape(-1, 4)[flat] * fg[..., None]
    scores = F.one_hot(labels, num_classes + 1)[..., :num_classes].to(gt_bboxes.dtype)
    return labels, bboxes, scores
