"""SmoothL1IoULoss: a box-regression loss, smooth-L1 applied to ``1 - IoU``."""

from __future__ import annotations

import torch
from torch import Tensor


class SmoothL1IoULoss:
    """``sum(smooth_l1(1 - IoU(pred, target)) * weight) / avg_factor``.

    Same call shape as detreg's box losses, so it can replace the ``iou_loss`` term of
    ``YOLOv6Loss`` from a config: boxes are ``[n, 4]`` xyxy, ``weight`` ``[n]``.

    Args:
        beta: the smooth-L1 transition point.
        iou_type: which IoU (``iou``, ``giou``, ``diou``, ``ciou``, ``siou``).
    """

    def __init__(self, beta: float = 0.1, iou_type: str = "giou") -> None:
        self.beta = beta
        self.iou_type = iou_type

    def __call__(
        self,
        pred: Tensor,
        target: Tensor,
        weight: Tensor | None = None,
        avg_factor: float | Tensor | None = None,
    ) -> Tensor:
        from detreg.ops.boxes import bbox_iou

        gap = 1.0 - bbox_iou(pred, target, iou_type=self.iou_type)
        loss = torch.nn.functional.smooth_l1_loss(
            gap, torch.zeros_like(gap), beta=self.beta, reduction="none"
        )
        if weight is not None:
            loss = loss * weight
        total = loss.sum()
        return total / avg_factor if avg_factor is not None else total
