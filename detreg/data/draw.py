"""Drawing boxes on images: the one place detreg draws (inference, batch grids, loggers).

:func:`draw_boxes` draws labelled boxes on one image; :func:`draw_mosaic` tiles a batch
with its boxes; :func:`draw_batch` does that for a contract batch (``targets``, file
names). Colours come from :func:`class_color`, the same for a class everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

_WHITE = (255, 255, 255)


def class_color(c: int) -> tuple[int, int, int]:
    """A distinct, stable RGB colour for class ``c``."""
    hue = int((c * 0.618033988749895 % 1.0) * 180)
    hsv = np.array([[[hue, 220, 255]]], dtype=np.uint8)
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def _label(cls: int, class_names: Sequence[str] | None, score: float | None) -> str:
    name = class_names[cls] if class_names is not None and 0 <= cls < len(class_names) else str(cls)
    return name if score is None else f"{name} {score:.2f}"


def draw_boxes(
    img: np.ndarray,
    boxes: np.ndarray,
    class_names: Sequence[str] | None = (),
    line_width: int | None = None,
    font_scale: float | None = None,
) -> np.ndarray:
    """A copy of RGB ``img`` with ``boxes`` drawn, each labelled ``name [score]`` on a
    filled tag in its class colour.

    ``boxes``: ``[n, 5]`` (x1, y1, x2, y2, cls) or ``[n, 6]`` (x1, y1, x2, y2, score, cls:
    the ``predict`` layout), in ``img``'s pixels.
    """
    out = np.ascontiguousarray(img).copy()
    h, w = out.shape[:2]
    lw = line_width or max(1, round((h + w) / 2 * 0.003))
    font = font_scale or max(0.35, lw / 3)
    text_w = max(1, lw - 1)
    b = np.asarray(boxes, dtype=np.float64)
    b = b.reshape(-1, b.shape[-1] if b.size else 5)
    for row in b:
        x1, y1, x2, y2 = (int(round(v)) for v in row[:4])
        score, cls = (float(row[4]), int(row[5])) if row.shape[0] >= 6 else (None, int(row[4]))
        color = class_color(cls)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, lw, cv2.LINE_AA)
        text = _label(cls, class_names, score)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, text_w)
        top = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y1  # above the box when it fits
        cv2.rectangle(out, (x1, top), (x1 + tw + 2, top + th + base + 2), color, -1)
        dark = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2] > 160
        ink = (0, 0, 0) if dark else _WHITE
        cv2.putText(
            out, text, (x1 + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font, ink, text_w, cv2.LINE_AA
        )
    return out


def draw_mosaic(
    images: Any,
    boxes: Sequence[np.ndarray],
    class_names: Sequence[str] | None = None,
    max_images: int = 16,
    max_size: int = 1920,
    min_tile: int = 160,
    captions: Sequence[str] | None = None,
    background: int = 114,
) -> np.ndarray:
    """Tile ``images`` (uint8 ``[B,3,H,W]`` RGB, tensor or array) in a grid with their boxes.

    ``boxes[i]``: see :func:`draw_boxes`, in the image's pixels. Tiles shrink to fit
    ``max_size`` and small ones grow to ``min_tile``; ``captions[i]`` is written at the
    bottom of tile ``i``. Returns an RGB ``uint8 [H, W, 3]`` array.
    """
    imgs = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    n = min(len(imgs), max_images)
    if n == 0:
        return np.zeros((max(min_tile, 1), max(min_tile, 1), 3), np.uint8)
    h, w = imgs.shape[2:]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fit = min(max_size / (cols * w), max_size / (rows * h))
    scale = min(fit, max(1.0, min_tile / max(h, w)))  # shrink to fit; enlarge tiny tiles
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    canvas = np.full((rows * th, cols * tw, 3), background, np.uint8)
    thick = max(1, round(max(th, tw) / 300))
    font = 0.35 * max(1.0, max(th, tw) / 400)
    for i in range(n):
        img = imgs[i]
        if img.dtype != np.uint8:
            img = (np.clip(img, 0, 1) * 255).astype(np.uint8) if img.max() <= 1.0 else img.astype(np.uint8)
        tile = np.ascontiguousarray(img.transpose(1, 2, 0))
        if (th, tw) != (h, w):
            tile = cv2.resize(tile, (tw, th), interpolation=cv2.INTER_LINEAR)
        b = np.asarray(boxes[i], dtype=np.float32)
        b = b.reshape(-1, b.shape[-1] if b.size else 5).copy()
        b[:, :4] *= scale
        tile = draw_boxes(tile, b, class_names, line_width=thick, font_scale=font)
        if captions is not None and i < len(captions):
            cv2.putText(
                tile, captions[i], (3, th - 5), cv2.FONT_HERSHEY_SIMPLEX, font, _WHITE, 1, cv2.LINE_AA
            )
        r, c = divmod(i, cols)
        canvas[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = tile
    for c in range(1, cols):
        canvas[:, c * tw - 1] = 255
    for r in range(1, rows):
        canvas[r * th - 1] = 255
    return canvas


def draw_batch(
    batch: dict[str, Any], class_names: Sequence[str] = (), max_images: int = 16, max_side: int = 1920
) -> np.ndarray:
    """RGB uint8 grid of the first ``max_images`` images of a contract batch, with their
    ``targets`` drawn as boxes labelled by class name, and the file name on each tile."""
    imgs = batch["img"][:max_images]
    n, _, h, w = imgs.shape
    targets = batch["targets"].cpu().numpy() if len(batch["targets"]) else np.zeros((0, 6), np.float32)
    boxes = []
    for i in range(n):
        t = targets[targets[:, 0] == i]
        cx, cy, bw, bh = t[:, 2] * w, t[:, 3] * h, t[:, 4] * w, t[:, 5] * h
        boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, t[:, 1]], 1))
    captions = None
    if "paths" in batch:
        captions = [str(p).replace("\\", "/").split("/")[-1][:40] for p in batch["paths"][:n]]
    return draw_mosaic(
        imgs, boxes, class_names, max_images, max_side, min_tile=0, captions=captions, background=255
    )
