"""The export graph: a detector with NMS inside, for ONNX (``detreg-export --nms``).

:class:`End2End` wraps a detector so its outputs are fixed-size detections (the TensorRT
EfficientNMS layout, names in :data:`NMS_OUTPUTS`); :class:`NonMaxSuppressionOp` is the
ONNX ``NonMaxSuppression`` operator with a PyTorch forward, so the same graph runs in
PyTorch and exports as one ONNX node.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from detreg.errors import DetregError


class NonMaxSuppressionOp(torch.autograd.Function):
    """ONNX ``NonMaxSuppression`` with a PyTorch forward (per image, per class, greedy)."""

    @staticmethod
    def forward(
        ctx: Any, boxes: Tensor, scores: Tensor, max_per_class: Tensor, iou: Tensor, score: Tensor
    ) -> Tensor:
        """``boxes [B,A,4]``, ``scores [B,C,A]`` -> selected ``[N,3]`` (batch, class, box) int64."""
        from detreg.ops.nms import nms

        rows = []
        k, thr, conf = int(max_per_class), float(iou), float(score)
        for b in range(scores.shape[0]):
            for c in range(scores.shape[1]):
                idx = (scores[b, c] > conf).nonzero().flatten()
                keep = idx[nms(boxes[b, idx], scores[b, c, idx], thr)[:k]]
                col = torch.full_like(keep, b)
                rows.append(torch.stack((col, torch.full_like(keep, c), keep), 1))
        if not rows:
            return torch.zeros(0, 3, dtype=torch.long, device=boxes.device)
        return torch.cat(rows)

    @staticmethod
    def symbolic(g: Any, boxes: Any, scores: Any, max_per_class: Any, iou: Any, score: Any) -> Any:
        """Emit the standard ONNX operator."""
        return g.op("NonMaxSuppression", boxes, scores, max_per_class, iou, score, center_point_box_i=0)


class End2End(nn.Module):
    """A detector with NMS in the graph, fixed-size outputs (TensorRT EfficientNMS layout).

    ``forward(images)`` -> ``(num_dets [B,1] int32, det_boxes [B,K,4], det_scores [B,K],
    det_classes [B,K] int32)``; ``K = max_det``. Selection as :func:`detreg.ops.nms.postprocess`:
    each anchor's best class, score > ``conf_thres``, class-aware greedy NMS at
    ``iou_thres``, top ``max_det`` by score.
    """

    def __init__(self, model: nn.Module, conf_thres: float, iou_thres: float, max_det: int) -> None:
        super().__init__()
        if conf_thres < 0:
            raise DetregError(f"NMS in the graph needs a score threshold >= 0 (--conf), got {conf_thres}")
        self.model = model
        self.conf_thres, self.iou_thres, self.max_det = float(conf_thres), float(iou_thres), int(max_det)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Detections of ``images`` (see the class docstring)."""
        pred = self.model(images)  # [B, A, 4 + nc]
        n_anchors, nc = pred.shape[1], pred.shape[2] - 4
        boxes, scores = pred[..., :4], pred[..., 4:]
        best = scores.argmax(-1, keepdim=True)  # first maximum, like Tensor.max
        onehot = (torch.arange(nc, device=pred.device) == best).to(scores.dtype)
        masked = (scores * onehot).transpose(1, 2).contiguous()  # [B, nc, A], best class only
        k = self.max_det
        sel = NonMaxSuppressionOp.apply(
            boxes,
            masked,
            torch.tensor([k], dtype=torch.long),
            torch.tensor([self.iou_thres], dtype=torch.float32),
            torch.tensor([self.conf_thres], dtype=torch.float32),
        )
        b_idx, c_idx, a_idx = sel[:, 0], sel[:, 1], sel[:, 2]
        sel_scores = masked.reshape(-1)[(b_idx * nc + c_idx) * n_anchors + a_idx]  # [N]
        sel_boxes = boxes.reshape(-1, 4)[b_idx * n_anchors + a_idx]  # [N, 4]
        batch_ar = torch.ones_like(pred[:, 0, 0], dtype=torch.long).cumsum(0) - 1  # [B], dynamic
        dense = torch.where(b_idx[None, :] == batch_ar[:, None], sel_scores[None, :], -1.0)  # [B, N]
        pad = (batch_ar[:, None] * 0 - 1).to(dense.dtype).repeat(1, k)  # [B, K] of -1: topk always fits
        top_scores, top_idx = torch.cat((dense, pad), 1).topk(k, dim=1)  # [B, K], sorted
        valid = top_scores > -0.5
        zeros = torch.zeros(k, 4, dtype=sel_boxes.dtype, device=sel_boxes.device)
        det_boxes = torch.cat((sel_boxes, zeros))[top_idx] * valid[..., None].to(sel_boxes.dtype)
        det_scores = top_scores * valid.to(top_scores.dtype)
        cls_pad = torch.cat((c_idx, torch.full((k,), -1, dtype=c_idx.dtype, device=c_idx.device)))
        det_classes = torch.where(valid, cls_pad[top_idx], -1).to(torch.int32)
        num_dets = valid.sum(1, keepdim=True).to(torch.int32)
        return num_dets, det_boxes, det_scores, det_classes


NMS_OUTPUTS = ("num_dets", "det_boxes", "det_scores", "det_classes")
