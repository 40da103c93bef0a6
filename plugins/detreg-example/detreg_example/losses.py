"""SmoothL1IoULoss: a box-regression loss, smooth-L1 applied to ``1 - IoU``."""

from __future__ import annotations

import torch
from torch import Tensor


class SmoothL1IoULoss:
    """``smooth_l1(1 - IoU(pred, target))`` per box.

    Same call shape as detreg's ``IoULoss`` (``[n, 4]`` xyxy boxes in, ``[n]`` losses out),
    so it can replace the ``iou_loss`` term of ``YOLOv6Loss`` from a config::

        model: {loss: {iou_loss: {type: SmoothL1IoULoss, beta: 0.1}}}

    Args:
        beta: the smooth-L1 transition point.
        iou_type: which IoU (``iou``, ``giou``, ``diou``, ``ciou``, ``siou``).
    """

    def __init__(self, beta: float = 0.1, iou_type: str = "giou") -> None:
        self.beta = beta
        self.iou_type = iou_type

    def __call__(self, pred: Tensor, target: Tensor) -> Tensor:
        from detreg.ops.boxes import bbox_iou

        gap = 1.0 - bbox_iou(pred, target, iou_type=self.iou_type)
        zero = torch.zeros_like(gap)
        return torch.nn.functional.smooth_l1_loss(gap, zero, beta=self.beta, reduction="none")
