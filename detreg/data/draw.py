"""Draw a batch (images, boxes, class names) as one grid image, for people and loggers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np


def class_color(c: int) -> tuple[int, int, int]:
    """A distinct, stable RGB colour for class ``c``."""
    hue = int((c * 0.618033988749895 % 1.0) * 180)
    hsv = np.array([[[hue, 220, 255]]], dtype=np.uint8)
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def draw_batch(
    batch: dict[str, Any], class_names: Sequence[str] = (), max_images: int = 16, max_side: int = 1920
) -> np.ndarray:
    """RGB uint8 grid of the first ``max_images`` images of a contract batch, with their
    ``targets`` drawn as boxes labelled by class name, and the file name on each tile."""
    imgs = batch["img"][:max_images]
    n, _, h, w = imgs.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    scale = min(1.0, max_side / (cols * w), max_side / (rows * h))
    th, tw = max(1, int(h * scale)), max(1, int(w * scale))
    grid = np.full((rows * th, cols * tw, 3), 255, dtype=np.uint8)
    targets = batch["targets"].cpu().numpy() if len(batch["targets"]) else np.zeros((0, 6), np.float32)
    thick = max(1, round(min(th, tw) / 320))
    for i in range(n):
        tile = np.ascontiguousarray(imgs[i].cpu().numpy().transpose(1, 2, 0))
        if scale != 1.0:
            tile = cv2.resize(tile, (tw, th), interpolation=cv2.INTER_AREA)
        for _, c, cx, cy, bw, bh in targets[targets[:, 0] == i]:
            x1, y1 = int((cx - bw / 2) * tw), int((cy - bh / 2) * th)
            x2, y2 = int((cx + bw / 2) * tw), int((cy + bh / 2) * th)
            color = class_color(int(c))
            cv2.rectangle(tile, (x1, y1), (x2, y2), color, thick)
            name = class_names[int(c)] if int(c) < len(class_names) else str(int(c))
            cv2.putText(
                tile,
                name,
                (x1 + 2, max(y1 - 3, 10)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.35 * thick,
                color,
                thick,
                cv2.LINE_AA,
            )
        if "paths" in batch:
            label = str(batch["paths"][i]).replace("\\", "/").split("/")[-1][:40]
            cv2.putText(
                tile,
                label,
                (3, th - 5),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.35 * thick,
                (255, 255, 255),
                thick,
                cv2.LINE_AA,
            )
        r, c = divmod(i, cols)
        grid[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = tile
        cv2.rectangle(grid, (c * tw, r * th), ((c + 1) * tw - 1, (r + 1) * th - 1), (255, 255, 255), 1)
    return grid
