"""Anchor points (anchor-free head) and ATSS anchor boxes, level by level, row-major."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Anchors:
    """Every anchor of a feature pyramid, concatenated level by level (row-major in each).

    ``points`` [A,2] centres in input pixels; ``strides`` [A,1]; ``boxes`` [A,4] xyxy square
    ATSS boxes of side ``grid_cell_size * stride``; ``num_per_level`` H_l*W_l per level.
    """

    points: Tensor
    strides: Tensor
    boxes: Tensor
    num_per_level: list[int]

    @property
    def points_in_strides(self) -> Tensor:
        """Anchor centres in stride units (what the head's distances are measured in)."""
        return self.points / self.strides


def _shape(feat: Tensor | Sequence[int]) -> tuple[int, int]:
    if isinstance(feat, Tensor):
        return int(feat.shape[-2]), int(feat.shape[-1])
    h, w = feat
    return int(h), int(w)


def make_anchor_points(
    feats: Sequence[Tensor | Sequence[int]],
    strides: Sequence[int | float],
    offset: float = 0.5,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """Anchor centres ``((x + offset)*s, (y + offset)*s)`` [A,2] in pixels and strides [A,1].

    ``feats`` are feature maps ``[..., H, W]`` (only their shapes are read) or ``(H, W)``
    pairs; A = sum of H_l*W_l, level by level, row-major within a level.
    """
    if len(feats) != len(strides):
        raise ValueError(f"got {len(feats)} feature levels but {len(strides)} strides")
    if device is None and feats and isinstance(feats[0], Tensor):
        device = feats[0].device
    points, stride_list = [], []
    for feat, s in zip(feats, strides):
        h, w = _shape(feat)
        ys = (torch.arange(h, device=device, dtype=dtype) + offset) * s
        xs = (torch.arange(w, device=device, dtype=dtype) + offset) * s
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack((xx, yy), -1).reshape(-1, 2))
        stride_list.append(torch.full((h * w, 1), float(s), device=device, dtype=dtype))
    if not points:
        return torch.zeros(0, 2, device=device, dtype=dtype), torch.zeros(0, 1, device=device, dtype=dtype)
    return torch.cat(points), torch.cat(stride_list)


def make_anchors(
    feats: Sequence[Tensor | Sequence[int]],
    strides: Sequence[int | float],
    grid_cell_size: float = 5.0,
    offset: float = 0.5,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Anchors:
    """Anchor points, strides, ATSS anchor boxes (side ``grid_cell_size*stride``) and level sizes."""
    points, stride_tensor = make_anchor_points(feats, strides, offset, device, dtype)
    half = grid_cell_size * stride_tensor / 2
    boxes = torch.cat((points - half, points + half), -1)
    num = [_shape(f)[0] * _shape(f)[1] for f in feats]
    return Anchors(points, stride_tensor, boxes, num)
