"""Box math: format conversions, IoU family, distance encoding, rescaling to the original image.

Boxes are ``xyxy`` (x1, y1, x2, y2) unless a name says otherwise; ``xywh`` means
(cx, cy, w, h). Every function works on the last dimension and broadcasts the rest.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

#: The IoU variants :func:`bbox_iou` computes (a ``Literal``, so configs are checked).
IoUType = Literal["iou", "giou", "diou", "ciou", "siou"]
IOU_TYPES: tuple[str, ...] = typing.get_args(IoUType)


def xyxy2xywh(boxes: Tensor) -> Tensor:
    """(x1, y1, x2, y2) -> (cx, cy, w, h)."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), -1)


def xywh2xyxy(boxes: Tensor) -> Tensor:
    """(cx, cy, w, h) -> (x1, y1, x2, y2)."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), -1)


def box_area(boxes: Tensor) -> Tensor:
    """Area of xyxy boxes (negative sides count as zero)."""
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def box_iou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-9) -> Tensor:
    """Pairwise IoU of ``[..., N, 4]`` and ``[..., M, 4]`` xyxy boxes -> ``[..., N, M]``."""
    lt = torch.maximum(boxes1[..., :, None, :2], boxes2[..., None, :, :2])
    rb = torch.minimum(boxes1[..., :, None, 2:], boxes2[..., None, :, 2:])
    wh = (rb - lt).clamp_(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = (box_area(boxes1)[..., :, None] + box_area(boxes2)[..., None, :]).sub_(inter).add_(eps)
    return inter.div_(union)


def bbox_iou(box1: Tensor, box2: Tensor, iou_type: str = "iou", eps: float = 1e-7) -> Tensor:
    """Elementwise IoU-family overlap of broadcastable xyxy boxes ``[..., 4]`` -> ``[...]``.

    ``iou_type``: ``iou``; ``giou`` = IoU - (C - U)/C with C the enclosing box area;
    ``diou`` = IoU - rho^2/c^2 (centre distance over enclosing diagonal, squared);
    ``ciou`` = DIoU - alpha*v with v = 4/pi^2 (atan(w2/h2) - atan(w1/h1))^2 and
    alpha = v / (v - IoU + 1 + eps) taken without gradient; ``siou`` = IoU - (Delta + Omega)/2
    (angle-aware distance cost Delta and shape cost Omega, see :func:`_siou_penalty`).
    """
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}, got {iou_type!r}")
    b1x1, b1y1, b1x2, b1y2 = box1.unbind(-1)
    b2x1, b2y1, b2x2, b2y2 = box2.unbind(-1)
    w1, h1 = b1x2 - b1x1, b1y2 - b1y1 + eps
    w2, h2 = b2x2 - b2x1, b2y2 - b2y1 + eps
    inter = (torch.minimum(b1x2, b2x2) - torch.maximum(b1x1, b2x1)).clamp(min=0) * (
        torch.minimum(b1y2, b2y2) - torch.maximum(b1y1, b2y1)
    ).clamp(min=0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    if iou_type == "iou":
        return iou
    cw = torch.maximum(b1x2, b2x2) - torch.minimum(b1x1, b2x1)  # enclosing box
    ch = torch.maximum(b1y2, b2y2) - torch.minimum(b1y1, b2y1)
    if iou_type == "giou":
        c_area = cw * ch + eps
        return iou - (c_area - union) / c_area
    dx = (b2x1 + b2x2 - b1x1 - b1x2) / 2  # centre offsets
    dy = (b2y1 + b2y2 - b1y1 - b1y2) / 2
    if iou_type == "siou":
        return iou - _siou_penalty(dx, dy, cw, ch, w1, h1, w2, h2, eps)
    c2 = cw**2 + ch**2 + eps
    rho2 = dx**2 + dy**2
    if iou_type == "diou":
        return iou - rho2 / c2
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + alpha * v)


def _siou_penalty(
    dx: Tensor, dy: Tensor, cw: Tensor, ch: Tensor, w1: Tensor, h1: Tensor, w2: Tensor, h2: Tensor, eps: float
) -> Tensor:
    """SIoU's (Delta + Omega) / 2.

    Angle cost Lambda = cos(2*arcsin(sin a) - pi/2) = sin(2a), with a the angle of the centre
    offset to the nearer axis. sin(2a) = 2|dx||dy|/sigma^2 is the same whichever axis is
    taken, so it is computed in that closed form (no sqrt/arcsin, finite gradient at dx=dy=0).
    Distance cost Delta = 2 - exp(g*rx) - exp(g*ry), g = Lambda - 2, rx = (dx/cw)^2,
    ry = (dy/ch)^2 (cw, ch: enclosing box). Shape cost Omega = sum (1 - exp(-omega))^4 with
    omega_w = |w1 - w2| / max(w1, w2) and likewise for h.
    """
    lam = 2 * (dx * dy).abs() / (dx**2 + dy**2 + eps)
    gamma = lam - 2
    rx = (dx / (cw + eps)) ** 2
    ry = (dy / (ch + eps)) ** 2
    dist = 2 - torch.exp(gamma * rx) - torch.exp(gamma * ry)
    ow = (w1 - w2).abs() / (torch.maximum(w1, w2) + eps)
    oh = (h1 - h2).abs() / (torch.maximum(h1, h2) + eps)
    shape = (1 - torch.exp(-ow)) ** 4 + (1 - torch.exp(-oh)) ** 4
    return 0.5 * (dist + shape)


def dist2bbox(distance: Tensor, anchor_points: Tensor, xywh: bool = False) -> Tensor:
    """Decode (left, top, right, bottom) distances from anchor points into boxes (xyxy or xywh)."""
    lt, rb = distance.chunk(2, -1)
    x1y1 = anchor_points - lt
    x2y2 = anchor_points + rb
    if xywh:
        return torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), -1)
    return torch.cat((x1y1, x2y2), -1)


def bbox2dist(anchor_points: Tensor, bbox: Tensor, reg_max: int) -> Tensor:
    """Encode xyxy boxes as ltrb distances from anchor points, clipped to ``[0, reg_max - 0.01]``."""
    x1y1, x2y2 = bbox.chunk(2, -1)
    return torch.cat((anchor_points - x1y1, x2y2 - anchor_points), -1).clamp(0, reg_max - 0.01)


def scale_boxes(
    boxes: Tensor,
    ratio_pad: tuple[Sequence[float], Sequence[float]],
    ori_shape: Sequence[int],
) -> Tensor:
    """Map xyxy boxes from input pixels back to original-image pixels, clipped to it.

    ``ratio_pad = ((ratio_h, ratio_w), (pad_w, pad_h))`` with input = original*ratio + pad;
    ``ori_shape = (h, w)`` of the original image. Returns a new tensor; extra columns
    (score, class) after the first four are copied unchanged.
    """
    (ratio_h, ratio_w), (pad_w, pad_h) = ratio_pad
    h, w = ori_shape
    out = boxes.clone()
    out[..., [0, 2]] = ((boxes[..., [0, 2]] - pad_w) / ratio_w).clamp(0, w)
    out[..., [1, 3]] = ((boxes[..., [1, 3]] - pad_h) / ratio_h).clamp(0, h)
    return out
