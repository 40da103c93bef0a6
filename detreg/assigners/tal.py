"""Task-aligned assigner (TOOD/TAL), batched over images with padded ground truth."""

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
class TaskAlignedAssigner:
    """Assign anchors to gts by the alignment metric t = s^alpha * IoU^beta.

    For each gt: among anchors whose centre lies inside it, the ``topk`` with the largest t
    (s = predicted score of the gt's class, IoU = IoU(gt, predicted box)) are positive. An
    anchor claimed by several gts keeps the one with the largest IoU. Target score =
    one-hot(class) * t * max IoU over the gt's positives / (max t over them + eps).
    Images with more than ``max_batched_gts`` gts are processed one at a time (memory).
    """

    def __init__(
        self,
        topk: int = 13,
        alpha: float = 1.0,
        beta: float = 6.0,
        eps: float = 1e-9,
        max_batched_gts: int = 100,
    ) -> None:
        self.topk = topk
        self.alpha = alpha
        self.beta = beta
        self.eps = eps
        self.max_batched_gts = max_batched_gts

    @torch.no_grad()
    def __call__(
        self,
        pred_scores: Tensor,
        pred_bboxes: Tensor,
        anchors: Anchors,
        gt_labels: Tensor,
        gt_bboxes: Tensor,
        mask_gt: Tensor,
    ) -> AssignResult:
        """``pred_scores [B,A,C]`` (after sigmoid), ``pred_bboxes [B,A,4]`` xyxy pixels, gts
        padded to ``[B,M,*]`` with ``mask_gt [B,M,1]`` -> :class:`AssignResult`."""
        batch, num_anchors, num_classes = pred_scores.shape
        check_gts(gt_labels, gt_bboxes, mask_gt, num_classes)
        if gt_bboxes.shape[1] == 0 or not mask_gt.any():
            return empty_result(batch, num_anchors, num_classes, pred_bboxes)
        if gt_bboxes.shape[1] > self.max_batched_gts and batch > 1:
            parts = [
                self._assign(
                    pred_scores[i : i + 1],
                    pred_bboxes[i : i + 1],
                    anchors.points,
                    gt_labels[i : i + 1],
                    gt_bboxes[i : i + 1],
                    mask_gt[i : i + 1],
                )
                for i in range(batch)
            ]
            return AssignResult(*(torch.cat(t) for t in zip(*(vars(p).values() for p in parts))))
        return self._assign(pred_scores, pred_bboxes, anchors.points, gt_labels, gt_bboxes, mask_gt)

    def _assign(
        self,
        pred_scores: Tensor,
        pred_bboxes: Tensor,
        points: Tensor,
        gt_labels: Tensor,
        gt_bboxes: Tensor,
        mask_gt: Tensor,
    ) -> AssignResult:
        batch, num_anchors, num_classes = pred_scores.shape
        num_gt = gt_bboxes.shape[1]
        in_gts = points_in_boxes(points, gt_bboxes) & mask_gt.reshape(batch, num_gt, 1).bool()
        overlaps = box_iou(gt_bboxes, pred_bboxes).clamp(min=0)  # [B,M,A]
        cls = gt_labels.reshape(batch, 1, num_gt).long().clamp(0, num_classes - 1)
        scores = pred_scores.gather(2, cls.expand(batch, num_anchors, num_gt)).transpose(1, 2)  # [B,M,A]
        metric = scores.pow(self.alpha) * overlaps.pow(self.beta)
        # top-k among the anchors inside the gt (outside ones rank below every inside one)
        ranked = torch.where(in_gts, metric, metric.new_tensor(-1.0))
        top = ranked.topk(min(self.topk, num_anchors), dim=-1).indices
        in_topk = torch.zeros_like(in_gts).scatter_(-1, top, True)
        gt_idx, fg, mask_pos = resolve_conflicts(in_topk & in_gts, overlaps)
        labels, bboxes, target_scores = gather_targets(gt_labels, gt_bboxes, gt_idx, fg, num_classes)
        metric = metric * mask_pos
        best_metric = metric.amax(-1, keepdim=True)  # [B,M,1]
        best_iou = (overlaps * mask_pos).amax(-1, keepdim=True)
        norm = (metric * best_iou / (best_metric + self.eps)).amax(1)  # [B,A]
        return AssignResult(labels, bboxes, target_scores * norm[..., None], fg, gt_idx)
