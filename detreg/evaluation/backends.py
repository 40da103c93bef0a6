"""COCO bbox evaluation with pycocotools or faster-coco-eval, silenced.

Both backends receive the same ground truth and detections and return the raw COCO
arrays (``precision [T,R,K,A,M]``, ``recall [T,K,A,M]``) so everything downstream is
backend-independent. ``backend='auto'`` picks faster-coco-eval when it is installed and a
one-off self-check on a generated case gives the same arrays as pycocotools.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "pycocotools", "faster_coco_eval")
AGREE_TOL = 1e-6


@dataclass
class CocoArrays:
    """Raw COCO evaluation output: arrays plus the parameters that index them."""

    precision: np.ndarray  # [T, R, K, A, M], -1 where a class has no gt
    recall: np.ndarray  # [T, K, A, M]
    iou_thrs: np.ndarray  # [T]
    rec_thrs: np.ndarray  # [R]
    cat_ids: list[int]  # K order
    area_labels: list[str]  # A order
    max_dets: list[int]  # M order


@contextlib.contextmanager
def _quiet():
    """Capture pycocotools' prints and pass them to the debug log."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield
    text = buf.getvalue().strip()
    if text:
        logger.debug("%s", text)


def _make_coco(cls: type, dataset: dict[str, Any]) -> Any:
    coco = cls()
    coco.dataset = dataset
    with _quiet():
        coco.createIndex()
    return coco


def _cocoeval(backend: str, gt: dict, dt: dict, img_ids: list[int], cat_ids: list[int]) -> Any:
    if backend == "faster_coco_eval":
        from faster_coco_eval import COCO, COCOeval_faster

        coco_gt, coco_dt = _make_coco(COCO, gt), _make_coco(COCO, dt)
        ev = COCOeval_faster(coco_gt, coco_dt, "bbox", print_function=logger.debug)
    else:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        coco_gt, coco_dt = _make_coco(COCO, gt), _make_coco(COCO, dt)
        with _quiet():
            ev = COCOeval(coco_gt, coco_dt, "bbox")
    ev.params.imgIds = list(img_ids)
    ev.params.catIds = list(cat_ids)
    with _quiet():
        ev.evaluate()
        ev.accumulate()
    return ev


def evaluate_bbox(
    gt: dict[str, Any],
    detections: list[dict[str, Any]],
    img_ids: list[int],
    cat_ids: list[int],
    backend: str = "auto",
) -> CocoArrays:
    """Run COCO bbox evaluation of ``detections`` against ``gt`` on ``img_ids``.

    ``gt`` is a COCO dict (its annotations are mutated by the backends, pass a copy);
    ``detections`` are COCO result dicts with ``id, image_id, category_id, bbox, score,
    area, iscrowd``. Empty detections are fine (every AP is 0).
    """
    name = resolve_backend(backend)
    dt = {
        "images": gt["images"],
        "categories": gt["categories"],
        "annotations": detections,
    }
    ev = _cocoeval(name, gt, dt, img_ids, sorted(cat_ids))
    p = ev.params
    return CocoArrays(
        precision=np.asarray(ev.eval["precision"], dtype=np.float64),
        recall=np.asarray(ev.eval["recall"], dtype=np.float64),
        iou_thrs=np.asarray(p.iouThrs, dtype=np.float64),
        rec_thrs=np.asarray(p.recThrs, dtype=np.float64),
        cat_ids=[int(c) for c in p.catIds],
        area_labels=list(p.areaRngLbl),
        max_dets=[int(m) for m in p.maxDets],
    )


def resolve_backend(backend: str) -> str:
    """The concrete backend name for ``backend`` (``'auto'`` resolved)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown COCO backend '{backend}'; expected one of {', '.join(BACKENDS)}")
    if backend == "faster_coco_eval" and not _installed("faster_coco_eval"):
        raise ValueError("backend 'faster_coco_eval' asked for but faster-coco-eval is not installed")
    if backend != "auto":
        return backend
    return "faster_coco_eval" if faster_backend_verified() else "pycocotools"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@functools.lru_cache(maxsize=1)
def faster_backend_verified() -> bool:
    """Whether faster-coco-eval is installed and matches pycocotools on a generated case."""
    if not _installed("faster_coco_eval"):
        return False
    gt, dets, img_ids, cat_ids = synthetic_case(num_images=24, num_classes=3, gt_per_image=4, seed=0)
    try:
        ref = evaluate_bbox(_copy_gt(gt), [dict(d) for d in dets], img_ids, cat_ids, "pycocotools")
        new = evaluate_bbox(_copy_gt(gt), [dict(d) for d in dets], img_ids, cat_ids, "faster_coco_eval")
    except Exception as exc:  # a broken install must not break evaluation: fall back
        logger.warning("faster-coco-eval failed its self-check (%s); using pycocotools", exc)
        return False
    ok = max_abs_diff(ref, new) <= AGREE_TOL
    if not ok:
        logger.warning("faster-coco-eval disagrees with pycocotools on a self-check; using pycocotools")
    return ok


def max_abs_diff(a: CocoArrays, b: CocoArrays) -> float:
    """Largest absolute difference between two results' precision and recall arrays."""
    if a.precision.shape != b.precision.shape or a.recall.shape != b.recall.shape:
        return float("inf")
    return float(max(np.abs(a.precision - b.precision).max(), np.abs(a.recall - b.recall).max()))


def _copy_gt(gt: dict[str, Any]) -> dict[str, Any]:
    return {**gt, "annotations": [dict(a) for a in gt["annotations"]]}


def synthetic_case(
    num_images: int = 50,
    num_classes: int = 5,
    gt_per_image: int = 10,
    dets_per_image: int | None = None,
    seed: int = 0,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[int], list[int]]:
    """A random COCO gt dict and noisy detections (for self-checks, tests and benchmarks).

    Returns ``(gt, detections, img_ids, cat_ids)``; category ids are odd numbers, so they
    are not contiguous. Detections are jittered copies of gt boxes (some with the wrong
    class) plus random false positives, with distinct random scores.
    """
    rng = np.random.default_rng(seed)
    dets_per_image = dets_per_image if dets_per_image is not None else 2 * gt_per_image
    cat_ids = [2 * i + 1 for i in range(num_classes)]
    images, anns, dets = [], [], []
    for img_id in range(1, num_images + 1):
        w, h = int(rng.integers(320, 800)), int(rng.integers(320, 800))
        images.append({"id": img_id, "width": w, "height": h, "file_name": f"{img_id}.jpg"})
        n = int(rng.integers(0, 2 * gt_per_image + 1))
        wh = rng.uniform(4, 0.5 * min(w, h), size=(n, 2))
        xy = rng.uniform(0, 1, size=(n, 2)) * (np.array([w, h]) - wh)
        cls = rng.integers(0, num_classes, size=n)
        for i in range(n):
            box = [float(xy[i, 0]), float(xy[i, 1]), float(wh[i, 0]), float(wh[i, 1])]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img_id,
                    "category_id": cat_ids[cls[i]],
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": int(rng.random() < 0.02),
                }
            )
        for j in range(dets_per_image):
            if n and j < 1.5 * n:
                i = j % n
                b = (
                    np.array([xy[i, 0], xy[i, 1], wh[i, 0], wh[i, 1]])
                    + rng.normal(0, 0.1, 4) * np.r_[wh[i], wh[i]]
                )
                c = cls[i] if rng.random() < 0.9 else rng.integers(0, num_classes)
            else:
                bwh = rng.uniform(4, 0.5 * min(w, h), size=2)
                b = np.r_[rng.uniform(0, 1, 2) * (np.array([w, h]) - bwh), bwh]
                c = rng.integers(0, num_classes)
            b[2:] = np.maximum(b[2:], 1.0)
            box = [float(v) for v in b]
            dets.append(
                {
                    "id": len(dets) + 1,
                    "image_id": img_id,
                    "category_id": cat_ids[int(c)],
                    "bbox": box,
                    "score": float(rng.random()),
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
    cats = [{"id": c, "name": f"c{c}"} for c in cat_ids]
    gt = {"images": images, "annotations": anns, "categories": cats}
    return gt, dets, [im["id"] for im in images], cat_ids
