"""Turn the loader's flat target list into padded per-image ground truth."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from detreg.errors import DetregError
from detreg.ops.boxes import xywh2xyxy


def pad_targets(targets: Tensor, batch_size: int, img_size: Sequence[int]) -> tuple[Tensor, Tensor, Tensor]:
    """``targets [N,6]`` (img_idx, cls, cx, cy, w, h; normalised to ``img_size = (H, W)``) ->
    ``gt_labels [B,M,1]`` (float class), ``gt_bboxes [B,M,4]`` xyxy pixels, ``mask_gt [B,M,1]`` bool.

    M is the largest gt count of one image (0 when the batch has no gt at all); padded
    slots are zeros with ``mask_gt`` False.
    """
    if targets.ndim != 2 or targets.shape[1] != 6:
        raise DetregError(f"targets must be [N, 6] (img_idx, cls, cx, cy, w, h), got {tuple(targets.shape)}")
    h, w = img_size
    dev, dt = targets.device, torch.float32
    n = targets.shape[0]
    img = targets[:, 0].long()
    if n and (not torch.isfinite(targets[:, 0]).all() or img.min() < 0 or img.max() >= batch_size):
        raise DetregError(
            f"targets hold image indices outside [0, {batch_size}): {targets[:, 0].unique().tolist()}"
        )
    counts = torch.bincount(img, minlength=batch_size)
    m = int(counts.max()) if n else 0
    labels = torch.zeros(batch_size, m, 1, device=dev, dtype=dt)
    boxes = torch.zeros(batch_size, m, 4, device=dev, dtype=dt)
    mask = torch.zeros(batch_size, m, 1, device=dev, dtype=torch.bool)
    if n == 0:
        return labels, boxes, mask
    order = torch.argsort(img, stable=True)
    img_s = img[order]
    starts = counts.cumsum(0) - counts
    slot = torch.arange(n, device=dev) - starts[img_s]
    t = targets[order].to(dt)
    scale = torch.tensor([w, h, w, h], device=dev, dtype=dt)
    labels[img_s, slot, 0] = t[:, 1]
    boxes[img_s, slot] = xywh2xyxy(t[:, 2:6] * scale)
    mask[img_s, slot, 0] = True
    return labels, boxes, mask
