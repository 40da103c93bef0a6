"""Box helpers for evaluation (numpy): letterbox fallback, pairwise IoU.

Mapping boxes back to original pixels is ``detreg.ops.boxes.scale_boxes``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RatioPad = tuple[tuple[float, float], tuple[float, float]]


def letterbox_ratio_pad(input_hw: Sequence[int], ori_hw: Sequence[int]) -> RatioPad:
    """The ``((ratio_h, ratio_w), (pad_w, pad_h))`` of a centred letterbox (fallback only)."""
    r = min(input_hw[0] / ori_hw[0], input_hw[1] / ori_hw[1])
    pad_w = (input_hw[1] - ori_hw[1] * r) / 2
    pad_h = (input_hw[0] - ori_hw[0] * r) / 2
    return (r, r), (pad_w, pad_h)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU ``[len(a), len(b)]`` of xyxy boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clip(0).prod(2)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
