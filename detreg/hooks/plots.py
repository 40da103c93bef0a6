"""Pictures of the writer hooks: prediction mosaics (``ImagesHook``), results grid (``MetricsFileHook``).

Boxes are drawn by :mod:`detreg.data.draw` (``draw_mosaic``, ``draw_batch``: the one
drawing module, same class colours everywhere; re-exported here). Everything here is a
pure function of arrays and records (no runner); matplotlib is imported when first needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detreg.data.draw import draw_mosaic

__all__ = ["draw_mosaic", "save_rgb", "curve_keys"]

#: Keys of a ``metrics.jsonl`` record that are bookkeeping, not curves.
BOOKKEEPING_KEYS = frozenset({"epoch", "iter", "time", "val_time", "skipped", "lr", "lr_groups"})

#: Evaluation figures that are not quality curves (how many images, how fast): no panel.
EVAL_BOOKKEEPING = frozenset({"num_images", "eval_time_s", "speed_ms_per_img"})

#: How the optimizer's param-group names (``detreg.optim.param_groups``) are shown.
LR_GROUP_LABELS = {"weight": "lr (weights)", "norm": "lr (BN)", "bias": "lr (bias)"}


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
    ``EpochStorage.record`` builds), which is how the two kinds are told apart.
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

    One panel per loss and metric, plus ``lr`` (one line per param group, labelled by
    meaning when the records name the groups). A loss that is 0 in every epoch (the DFL
    loss of a model without DFL) and evaluation bookkeeping (image count, timings) get no
    panel; metrics always do (a 0 mAP is news). Returns the path, or ``None`` when there
    is nothing to plot.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    records = [r for r in records if isinstance(r.get("epoch"), int)]
    if not records:
        return None
    losses, metrics = curve_keys(records)
    losses = [k for k in losses if not _always_zero(records, k)]
    metrics = [k for k in metrics if k not in EVAL_BOOKKEEPING]
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
            names = next((r["lr_groups"] for r in reversed(records) if r.get("lr_groups")), [])
            for g in range(n_groups):
                pts = [(r["epoch"], r["lr"][g]) for r in records if r.get("lr") and len(r["lr"]) > g]
                name = names[g] if g < len(names) else ""
                ax.plot(*zip(*pts), marker=".", label=LR_GROUP_LABELS.get(name, f"lr ({name or f'pg{g}'})"))
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


def _always_zero(records: Sequence[dict[str, Any]], key: str) -> bool:
    """True when ``key`` is 0 in every record that has it as a number."""
    values = [
        r[key] for r in records if isinstance(r.get(key), (int, float)) and not isinstance(r[key], bool)
    ]
    return bool(values) and all(v == 0 for v in values)
