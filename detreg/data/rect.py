"""Rectangular batching: aspect-sorted order and per-batch shapes (multiples of ``stride``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def aspect_order(shapes: Sequence[tuple[int, int]]) -> np.ndarray:
    """Indices that sort images by aspect ratio h/w (stable)."""
    ar = np.array([h / w for h, w in shapes], dtype=np.float64)
    return np.argsort(ar, kind="stable")


def batch_shapes(
    shapes: Sequence[tuple[int, int]], batch_size: int, img_size: int, stride: int = 32, pad: float = 0.5
) -> list[tuple[int, int]]:
    """Per-index ``(h, w)`` for images already in aspect order, grouped ``batch_size`` at a time.

    Each batch gets ``ceil(ratio * img_size / stride + pad) * stride`` where ``ratio`` is
    the (h, w) extent of its most extreme aspect relative to the long side.
    """
    n = len(shapes)
    out: list[tuple[int, int]] = []
    batch_size = max(1, int(batch_size))
    for start in range(0, n, batch_size):
        ar = [h / w for h, w in shapes[start : start + batch_size]]
        lo, hi = min(ar), max(ar)
        rel = (1.0, 1.0)
        if hi < 1:  # all wide: height shrinks
            rel = (hi, 1.0)
        elif lo > 1:  # all tall: width shrinks
            rel = (1.0, 1.0 / lo)
        shape = tuple(int(math.ceil(r * img_size / stride + pad) * stride) for r in rel)
        out += [shape] * len(ar)  # type: ignore[list-item]
    return out
