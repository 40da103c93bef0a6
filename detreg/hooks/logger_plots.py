"""Pictures for :class:`~detreg.hooks.logger.LoggerHook`: prediction mosaics, results grid.

Training batches are drawn by :func:`detreg.data.draw.draw_batch` (same class colours).
Everything here is a pure function of arrays and records (no runner); matplotlib and
OpenCV are imported when first needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from detreg.data.draw import class_color

#: Keys of a ``metrics.jsonl`` record that are bookkeeping, not curves.
BOOKKEEPING_KEYS = frozenset({"epoch", "iter", "time", "val_time", "skipped", "lr"})


def _label(cls: int, class_names: Sequence[str] | None, score: float | None) -> str:
    name = class_names[cls] if class_names is not None and 0 <= cls < len(class_names) else str(cls)
    return name if score is None else f"{name} {score:.2f}"


def draw_mosaic(
    images: torch.Tensor | np.ndarray,
    boxes: Sequence[np.ndarray],
    class_names: Sequence[str] | None = None,
    max_images: int = 16,
    max_size: int = 1920,
    min_tile: int = 160,
) -> np.ndarray:
    """Tile ``images`` (uint8 ``[B,3,H,W]`` RGB) in a grid with their boxes drawn.

    ``boxes[i]`` is an ``[n, 5]`` (``x1, y1, x2, y2, cls``) or ``[n, 6]`` (``..., score,
    cls``: the ``predict`` layout ``x1, y1, x2, y2, score, cls``) array in the image's
    pixels. Returns an RGB ``uint8 [H, W, 3]`` array.
    """
    import cv2

    imgs = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    n = min(len(imgs), max_images)
    if n == 0:
        return np.zeros((min_tile, min_tile, 3), np.uint8)
    h, w = imgs.shape[2:]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fit = min(max_size / (cols * w), max_size / (rows * h))
    scale = min(fit, max(1.0, min_tile / max(h, w)))  # shrink to fit; enlarge tiny tiles
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    canvas = np.full((rows * th, cols * tw, 3), 114, np.uint8)
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
        b = b.reshape(-1, b.shape[-1] if b.size else 5)
        for row in b:
            x1, y1, x2, y2 = (row[:4] * scale).round().astype(int).tolist()
            if row.shape[0] >= 6:
                score, cls = float(row[4]), int(row[5])
            else:
                score, cls = None, int(row[4])
            color = class_color(cls)
            cv2.rectangle(tile, (x1, y1), (x2, y2), color, thick)
            text = _label(cls, class_names, score)
            (tw_, th_), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
            ty = max(y1, th_ + base)
            cv2.rectangle(tile, (x1, ty - th_ - base), (x1 + tw_, ty), color, -1)
            white = (255, 255, 255)
            cv2.putText(tile, text, (x1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, font, white, 1, cv2.LINE_AA)
        r, c = divmod(i, cols)
        canvas[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = tile
    for c in range(1, cols):
        canvas[:, c * tw - 1] = 255
    for r in range(1, rows):
        canvas[r * th - 1] = 255
    return canvas


def save_rgb(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB ``uint8 [H,W,3]`` array as an image file (format from the suffix)."""
    import cv2

    path = Path(path)
    if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1])):
        raise OSError(f"could not write {path}")
    return path


def curve_keys(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The numeric series of ``records``: ``(train_keys, val_keys)``, first seen first.

    A record lists its losses before ``lr`` and its metrics after it (the order
    ``LoggerHook`` writes), which is how the two kinds are told apart.
    """
    train: list[str] = []
    val: list[str] = []
    for rec in records:
        after_lr = False
        for k, v in rec.items():
            if k == "lr":
                after_lr = True
            if k in BOOKKEEPING_KEYS or k in train or k in val:
                continue
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                (val if after_lr else train).append(k)
    return train, val


def plot_results(records: Sequence[dict[str, Any]], path: str | Path, max_panels: int = 16) -> Path | None:
    """Draw every curve of ``metrics.jsonl`` records vs epoch into one PNG grid.

    One panel per loss and metric, plus ``lr`` (one line per param group). Returns the
    path, or ``None`` when there is nothing to plot.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    records = [r for r in records if isinstance(r.get("epoch"), int)]
    if not records:
        return None
    losses, metrics = curve_keys(records)
    first = [k for k in ("mAP50_95", "mAP50") if k in metrics]
    metrics = first + [k for k in metrics if k not in first]
    panels: list[str] = losses + (["lr"] if any(r.get("lr") for r in records) else []) + metrics
    panels = panels[:max_panels]
    if not panels:
        return None
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(4 * cols, 3 * rows), dpi=100, tight_layout=True)
    FigureCanvasAgg(fig)
    for i, key in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        if key == "lr":
            n_groups = max(len(r.get("lr") or []) for r in records)
            for g in range(n_groups):
                pts = [(r["epoch"], r["lr"][g]) for r in records if r.get("lr") and len(r["lr"]) > g]
                ax.plot(*zip(*pts), marker=".", label=f"pg{g}")
            if n_groups > 1:
                ax.legend(fontsize=7)
        else:
            pts = [(r["epoch"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="." if len(pts) < 50 else None)
                if key in ("mAP50_95", "mAP50"):
                    best = int(np.argmax(ys))
                    ax.plot([xs[best]], [ys[best]], "r*", markersize=9)
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.savefig(str(path))
    return Path(path)
