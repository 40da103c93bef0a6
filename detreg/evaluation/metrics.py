"""Turn raw COCO arrays into the flat metrics dict the evaluator returns."""

from __future__ import annotations

import math

import numpy as np

from detreg.evaluation.backends import CocoArrays


def _mean_valid(x: np.ndarray) -> float:
    """COCO's summary rule: mean over entries > -1, or -1 when there are none."""
    valid = x[x > -1]
    return float(valid.mean()) if valid.size else -1.0


def _iou_index(arrays: CocoArrays, thr: float) -> int:
    return int(np.argmin(np.abs(arrays.iou_thrs - thr)))


def summarize(arrays: CocoArrays) -> dict[str, float]:
    """The standard COCO numbers (AP at maxDets 100, AR at 1/10/100), -1 mapped to 0.

    Keys: ``mAP50_95, mAP50, mAP75, mAP_small, mAP_medium, mAP_large, AR1, AR10, AR100,
    AR_small, AR_medium, AR_large``.
    """
    p, r = arrays.precision, arrays.recall
    m = len(arrays.max_dets) - 1
    t50, t75 = _iou_index(arrays, 0.5), _iou_index(arrays, 0.75)
    out = {
        "mAP50_95": _mean_valid(p[:, :, :, 0, m]),
        "mAP50": _mean_valid(p[t50, :, :, 0, m]),
        "mAP75": _mean_valid(p[t75, :, :, 0, m]),
    }
    for a, label in enumerate(arrays.area_labels[1:], start=1):
        out[f"mAP_{label}"] = _mean_valid(p[:, :, :, a, m])
    for i, md in enumerate(arrays.max_dets):
        out[f"AR{md}"] = _mean_valid(r[:, :, 0, i])
    for a, label in enumerate(arrays.area_labels[1:], start=1):
        out[f"AR_{label}"] = _mean_valid(r[:, :, a, m])
    return {k: max(v, 0.0) for k, v in out.items()}


def per_class_ap(arrays: CocoArrays, cat_ids: list[int], iou: float | None = None) -> list[float]:
    """AP per class (in ``cat_ids`` order) at maxDets 100; NaN for a class with no gt.

    ``iou=None`` averages over all IoU thresholds (AP50:95); a number picks one threshold.
    """
    p = arrays.precision[:, :, :, 0, -1]
    if iou is not None:
        p = p[_iou_index(arrays, iou) : _iou_index(arrays, iou) + 1]
    k_of = {c: k for k, c in enumerate(arrays.cat_ids)}
    out = []
    for c in cat_ids:
        v = _mean_valid(p[:, :, k_of[c]]) if c in k_of else -1.0
        out.append(v if v > -1 else math.nan)
    return out


def pr_curves(arrays: CocoArrays, cat_ids: list[int], iou: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """``(recall [R], precision [C, R])`` at one IoU threshold, area all, maxDets 100.

    Rows follow ``cat_ids``; a class with no gt is a row of NaN.
    """
    t = _iou_index(arrays, iou)
    k_of = {c: k for k, c in enumerate(arrays.cat_ids)}
    prec = np.full((len(cat_ids), arrays.rec_thrs.size), np.nan)
    for i, c in enumerate(cat_ids):
        if c in k_of:
            row = arrays.precision[t, :, k_of[c], 0, -1]
            if (row > -1).all():
                prec[i] = row
    return arrays.rec_thrs.copy(), prec


def per_class_pr(arrays: CocoArrays, cat_ids: list[int], iou: float = 0.5) -> tuple[list[float], list[float]]:
    """Precision and recall per class (in ``cat_ids`` order) at the point of its PR curve
    (IoU ``iou``, area all, maxDets 100) where F1 is highest; NaN for a class with no gt.

    With COCO's interpolated curves that is the operating point a confidence threshold
    tuned for that class would reach; a class never detected has precision and recall 0.
    """
    recall, curves = pr_curves(arrays, cat_ids, iou)
    precisions, recalls = [], []
    for row in curves:
        if np.isnan(row).all():
            precisions.append(math.nan)
            recalls.append(math.nan)
            continue
        f1 = 2 * row * recall / np.maximum(row + recall, 1e-12)
        i = int(np.argmax(f1))
        found = f1[i] > 0
        precisions.append(float(row[i]) if found else 0.0)
        recalls.append(float(recall[i]) if found else 0.0)
    return precisions, recalls
