"""Depth and width scaling rules of the YOLOv6 family."""

from __future__ import annotations

import math
from collections.abc import Sequence


def make_divisible(x: float, divisor: int = 8) -> int:
    """Round ``x`` up to a multiple of ``divisor`` (YOLOv6 N/S/M/L channel rule)."""
    return int(math.ceil(x / divisor) * divisor)


def make_divisible_nearest(x: float, divisor: int = 16) -> int:
    """Round ``x`` to the nearest multiple of ``divisor``, never below 90% of ``x`` (Lite rule)."""
    new = max(divisor, int(x + divisor / 2) // divisor * divisor)
    if new < 0.9 * x:
        new += divisor
    return new


def scale_depth(n: int, depth_multiple: float) -> int:
    """Repeats after depth scaling: ``max(round(n*d), 1)`` when ``n > 1``, else ``n``."""
    return max(round(n * depth_multiple), 1) if n > 1 else n


def scale_widths(channels: Sequence[int], width_multiple: float, divisor: int = 8) -> list[int]:
    """Channel counts after width scaling (``make_divisible(c*w, divisor)`` each)."""
    return [make_divisible(c * width_multiple, divisor) for c in channels]


def scale_depths(repeats: Sequence[int], depth_multiple: float) -> list[int]:
    """Repeat counts after depth scaling (``scale_depth`` each)."""
    return [scale_depth(n, depth_multiple) for n in repeats]
