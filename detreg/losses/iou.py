"""IoU-family box regression loss."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from detreg.ops.boxes import IOU_TYPES, IoUType, bbox_iou
from detreg.registry import LOSSES


@LOSSES.register()
class IoULoss(nn.Module):
    """``1 - IoU_x(pred, target)`` for xyxy boxes, IoU_x one of iou/giou/diou/ciou/siou.

    ``reduction``: ``none`` (per box, what :class:`YOLOv6Loss` weights), ``mean`` or ``sum``.
    """

    def __init__(
        self,
        iou_type: IoUType = "giou",
        eps: float = 1e-7,
        reduction: Literal["none", "mean", "sum"] = "none",
    ) -> None:
        super().__init__()
        if iou_type not in IOU_TYPES:
            raise ValueError(f"iou_type must be one of {IOU_TYPES}, got {iou_type!r}")
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        self.iou_type = iou_type
        self.eps = eps
        self.reduction = reduction

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """``pred``, ``target``: ``[..., 4]`` xyxy -> loss ``[...]`` (or a scalar when reduced)."""
        loss = 1.0 - bbox_iou(pred, target, self.iou_type, self.eps)
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss
