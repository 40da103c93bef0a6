"""PNG plots for evaluation: PR curves and the confusion matrix (matplotlib, Agg, lazy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _figure(size: tuple[float, float]):
    """A pyplot-free figure on an Agg canvas (no global backend state touched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, tight_layout=True)
    FigureCanvasAgg(fig)
    return fig


def plot_pr_curve(recall: np.ndarray, precision: np.ndarray, names: list[str], path: Path) -> Path:
    """Precision vs recall, one line per class with gt (NaN rows skipped) plus their mean.

    ``precision`` is ``[C, R]`` over the recall points ``recall [R]``; the legend shows each
    curve's AP (mean precision over the recall points, COCO's 101-point rule).
    """
    fig = _figure((9, 6))
    ax = fig.add_subplot(1, 1, 1)
    valid = ~np.isnan(precision).any(1)
    show_legend = len(names) < 21
    for i in np.flatnonzero(valid):
        label = f"{names[i]} {precision[i].mean():.3f}" if show_legend else None
        ax.plot(recall, precision[i], linewidth=1, label=label, color=None if show_legend else "grey")
    if valid.any():
        mean = precision[valid].mean(0)
        ax.plot(recall, mean, linewidth=3, color="blue", label=f"all classes {mean.mean():.3f} mAP@0.5")
    ax.set_xlabel("Recall")
    ax.set_ylabel("Precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_title("Precision-Recall curve (IoU 0.5)")
    if valid.any():
        ax.legend(bbox_to_anchor=(1.04, 1), loc="upper left", fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def plot_confusion_matrix(matrix: np.ndarray, names: list[str], path: Path, normalized: bool = True) -> Path:
    """Heat map of ``matrix[predicted, true]`` with a trailing background row and column."""
    n = matrix.shape[0]
    labels = [*names, "background"]
    fig = _figure((12, 9))
    ax = fig.add_subplot(1, 1, 1)
    data = np.where(matrix < 0.005, np.nan, matrix) if normalized else matrix
    im = ax.imshow(data, cmap="Blues", vmin=0.0, vmax=1.0 if normalized else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if n < 31:
        ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(n), labels, fontsize=7)
        for (r, c), v in np.ndenumerate(matrix):
            if (v >= 0.005) if normalized else (v > 0):
                text = f"{v:.2f}" if normalized else str(int(v))
                ax.text(
                    c,
                    r,
                    text,
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if normalized and v > 0.5 else "black",
                )
    ax.set_xlabel("True")
    ax.set_ylabel("Predicted")
    ax.set_title("Confusion matrix" + (" (normalised per true class)" if normalized else ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
