"""ATSS assigner (adaptive training sample selection), batched over images."""

from __future__ import annotations

import torch
from torch import Tensor

from detreg.assigners.common import (
    AssignResult,
    check_gts,
    empty_result,
    gather_targets,
    points_in_boxes,
    resolve_conflicts,
)
from detreg.ops.anchors import Anchors
from detreg.ops.boxes import box_iou
from detreg.registry import ASSIGNERS


@ASSIGNERS.register()
class ATSSAssigner:
    """Assign anchors to gts by ATSS on the fixed anchor boxes (``anchors.boxes``).

    Per gt, the ``topk`` anchors per level whose centres are nearest the gt centre are
    candidates; threshold = mean + std (unbiased; 0 with a single candidate) of their
    IoU with the gt; a candidate is positive when its IoU > threshold and its centre lies
    inside the gt. Conflicts keep the gt with the largest anchor IoU. Target score =
    one-hot(class) * IoU(gt, predicted box) when predicted boxes are given, else one-hot.
    """

    def __init__(self, topk: int = 9, eps: float = 1e-9) -> None:
        self.topk = topk
        self.eps = eps

    @torch.no_grad()
    def __call__(
        self,
        pred_scores: Tensor,
        pred_bboxes: Tensor | None,
        anchors: Anchors,
        gt_labels: Tensor,
        gt_bboxes: Tensor,
        mask_gt: Tensor,
    ) -> AssignResult:
        """Same call as :class:`TaskAlignedAssigner`; ``pred_scores`` only gives B, A and C."""
        batch, num_anchors, num_classes = pred_scores.shape
        check_gts(gt_labels, gt_bboxes, mask_gt, num_classes)
        like = pred_bboxes if pred_bboxes is not None else gt_bboxes
        if gt_bboxes.shape[1] == 0 or not mask_gt.any():
            return empty_result(batch, num_anchors, num_classes, like)
        num_gt = gt_bboxes.shape[1]
        valid = mask_gt.reshape(batch, num_gt, 1).bool()
        overlaps = box_iou(gt_bboxes, anchors.boxes[None])  # [B,M,A]
        gt_c = (gt_bboxes[..., :2] + gt_bboxes[..., 2:]) / 2
        dist = ((gt_c[:, :, None] - anchors.points[None, None]) ** 2).sum(-1)  # squared, same order
        cand = torch.zeros_like(overlaps, dtype=torch.bool)
        start = 0
        for n in anchors.num_per_level:
            if n:
                near = dist[..., start : start + n].topk(min(self.topk, n), dim=-1, largest=False).indices
                cand.scatter_(-1, near + start, True)
            start += n
        cand &= valid
        n_cand = cand.sum(-1, keepdim=True).clamp(min=1)
        cand_iou = overlaps * cand
        mean = cand_iou.sum(-1, keepdim=True) / n_cand
        var = (((overlaps - mean) ** 2) * cand).sum(-1, keepdim=True) / (n_cand - 1).clamp(min=1)
        thr = mean + var.sqrt()
        is_pos = cand & (overlaps > thr) & points_in_boxes(anchors.points, gt_bboxes) & valid
        gt_idx, fg, mask_pos = resolve_conflicts(is_pos, overlaps)
        labels, bboxes, scores = gather_targets(gt_labels, gt_bboxes, gt_idx, fg, num_classes)
        if pred_bboxes is not None:
            ious = (box_iou(gt_bboxes, pred_bboxes) * mask_pos).amax(1)  # [B,A]
            scores = scores * ious[..., None]
        return AssignResult(labels, bboxes, scores, fg, gt_idx)
