"""Detection confusion matrix with a background row and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from detreg.evaluation.boxes import box_iou


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


class ConfusionMatrix:
    """Counts ``matrix[predicted, true]`` over ``num_classes + 1`` classes (last = background).

    Detections below ``conf`` are dropped; a detection and a gt box pair up (greedily, by
    IoU, one to one, whatever their classes) when their IoU exceeds ``iou_thres``.
    Unmatched gt count in the background row (missed), unmatched detections in the
    background column (false positives).
    """

    def __init__(self, num_classes: int, conf: float = 0.25, iou_thres: float = 0.45) -> None:
        self.num_classes = num_classes
        self.conf = conf
        self.iou_thres = iou_thres
        self.matrix = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)

    def process_batch(self, detections: Any, gt_boxes: Any, gt_classes: Any) -> None:
        """Add one image: ``detections [n,6]`` (x1,y1,x2,y2,score,cls), gt xyxy ``[m,4]``, ``[m]``."""
        bg = self.num_classes
        det = _numpy(detections).reshape(-1, 6)
        det = det[det[:, 4] >= self.conf]
        gtb = _numpy(gt_boxes).reshape(-1, 4)
        gtc = _numpy(gt_classes).reshape(-1).astype(np.int64)
        dc = det[:, 5].astype(np.int64)
        iou = box_iou(gtb, det[:, :4])
        gi, di = np.nonzero(iou > self.iou_thres)
        if gi.size:
            order = np.argsort(-iou[gi, di], kind="stable")
            gi, di = gi[order], di[order]
            _, first = np.unique(di, return_index=True)  # best gt per detection
            keep = np.sort(first)
            gi, di = gi[keep], di[keep]
            _, first = np.unique(gi, return_index=True)  # then best detection per gt
            keep = np.sort(first)
            gi, di = gi[keep], di[keep]
        np.add.at(self.matrix, (dc[di], gtc[gi]), 1)
        missed = np.setdiff1d(np.arange(len(gtc)), gi)
        np.add.at(self.matrix, (np.full(missed.size, bg), gtc[missed]), 1)
        spurious = np.setdiff1d(np.arange(len(dc)), di)
        np.add.at(self.matrix, (dc[spurious], np.full(spurious.size, bg)), 1)

    def normalized(self) -> np.ndarray:
        """The matrix with each true-class column summing to 1 (empty columns stay 0)."""
        col = self.matrix.sum(0, keepdims=True)
        return self.matrix / np.maximum(col, 1)

    def tp_fp(self) -> tuple[np.ndarray, np.ndarray]:
        """True positives (diagonal) and false positives per class (row sum minus diagonal)."""
        tp = np.diag(self.matrix)[:-1]
        fp = self.matrix.sum(1)[:-1] - tp
        return tp, fp

    def plot(self, path: str | Path, names: list[str] | None = None, normalize: bool = True) -> Path:
        """Write the matrix as a PNG heat map; returns the path."""
        from detreg.evaluation.plots import plot_confusion_matrix

        names = list(names) if names is not None else [str(i) for i in range(self.num_classes)]
        data = self.normalized() if normalize else self.matrix.astype(np.float64)
        return plot_confusion_matrix(data, names, Path(path), normalized=normalize)
