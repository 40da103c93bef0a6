"""COCO-style bbox evaluator: collects predictions, returns mAP and per-class AP."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from detreg.evaluation.backends import CocoArrays, evaluate_bbox, resolve_backend
from detreg.evaluation.boxes import letterbox_ratio_pad
from detreg.evaluation.confusion import ConfusionMatrix
from detreg.evaluation.metrics import per_class_ap, per_class_pr, pr_curves, summarize
from detreg.ops.boxes import scale_boxes
from detreg.registry import EVALUATORS

logger = logging.getLogger(__name__)

METRIC_KEYS = (
    "mAP50_95", "mAP50", "mAP75", "mAP_small", "mAP_medium", "mAP_large",
    "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large",
)  # fmt: skip


def _normalize_gt(gt: Mapping[str, Any], cat_ids: Sequence[int], names: Sequence[str]) -> dict[str, Any]:
    """A copy of a COCO gt dict with the fields the backends need filled in."""
    anns = []
    for i, a in enumerate(gt.get("annotations", [])):
        a = dict(a)
        a.setdefault("id", i + 1)
        a.setdefault("iscrowd", 0)
        a.setdefault("area", float(a["bbox"][2]) * float(a["bbox"][3]))
        anns.append(a)
    cats = list(gt.get("categories") or [])
    known = {c["id"] for c in cats}
    cats += [{"id": c, "name": n} for c, n in zip(cat_ids, names) if c not in known]
    return {"images": list(gt.get("images", [])), "annotations": anns, "categories": cats}


@EVALUATORS.register("COCOEvaluator", aliases=("COCOMetric",))
class COCOEvaluator:
    """COCO bbox mAP (pycocotools or faster-coco-eval) over a validation pass.

    ``reset(dataset)``, then ``process(preds, batch)`` per batch, then ``evaluate()``.
    Predictions come in input pixels and are mapped back to original pixels with the
    batch's ``ratio_pad``. ``backend``: ``'auto'`` (faster-coco-eval when installed and
    self-checked against pycocotools), ``'pycocotools'`` or ``'faster_coco_eval'``.
    ``confusion_conf``/``confusion_iou`` configure the confusion-matrix plot.
    """

    def __init__(
        self, backend: str = "auto", confusion_conf: float = 0.25, confusion_iou: float = 0.45
    ) -> None:
        if backend != "auto":
            resolve_backend(backend)  # unknown name or missing package: fail at build time
        self.backend = backend
        self.confusion_conf = confusion_conf
        self.confusion_iou = confusion_iou
        self.backend_used: str | None = None
        self.class_names: list[str] = []
        self.cat_ids: list[int] = []
        self._gt: dict[str, Any] | None = None
        self._img_ids: set[int] = set()
        self._dets: dict[int, np.ndarray] = {}
        self._arrays: CocoArrays | None = None
        self._results: dict[str, Any] | None = None

    # ------------------------------------------------------------------ collecting
    def reset(self, dataset: Any = None) -> None:
        """Start a new pass; with ``dataset``, (re)read its gt, class names and category ids."""
        if dataset is not None:
            self.class_names = [str(n) for n in dataset.class_names]
            self.cat_ids = [int(c) for c in dataset.cat_ids]
            if len(self.cat_ids) != len(self.class_names):
                raise ValueError(
                    f"dataset has {len(self.class_names)} class names but {len(self.cat_ids)} cat_ids"
                )
            self._gt = _normalize_gt(dataset.coco_gt(), self.cat_ids, self.class_names)
            self._img_ids = {int(im["id"]) for im in self._gt["images"]}
        self._dets = {}
        self._arrays = None
        self._results = None

    def process(self, preds: Sequence[Any], batch: Mapping[str, Any]) -> None:
        """Add one batch: ``preds[i]`` is ``[n,6]`` (x1,y1,x2,y2,score,cls) in input pixels.

        An image id seen before (a padded distributed sampler) is ignored.
        """
        if self._gt is None:
            raise RuntimeError("COCOEvaluator.process() before reset(dataset)")
        ids, shapes = batch["image_ids"], batch["ori_shapes"]
        ratio_pads = batch.get("ratio_pad")
        nc = len(self.cat_ids)
        for i, pred in enumerate(preds):
            img_id = int(ids[i])
            if img_id in self._dets:
                continue
            if img_id not in self._img_ids:
                raise ValueError(f"image id {img_id} is not in the dataset's coco_gt()")
            ori = (int(shapes[i][0]), int(shapes[i][1]))
            if ratio_pads is not None:
                (rh, rw), (pw, ph) = ratio_pads[i]
                rp = ((float(rh), float(rw)), (float(pw), float(ph)))
            else:
                rp = letterbox_ratio_pad(tuple(batch["img"].shape[-2:]), ori)
            p = torch.as_tensor(pred).detach().to("cpu", torch.float64).reshape(-1, 6)
            cls = p[:, 5]
            if cls.numel() and (cls.min() < 0 or cls.max() >= nc):
                raise ValueError(f"class index {cls.max():.0f} out of range for {nc} classes")
            self._dets[img_id] = scale_boxes(p, rp, ori).numpy()
        self._arrays = None
        self._results = None

    # ------------------------------------------------------------------ results
    def coco_predictions(self) -> list[dict[str, Any]]:
        """The pass's detections as a COCO results list (``image_id``, ``category_id``,
        ``bbox`` [x, y, w, h] in original pixels, ``score``), as pycocotools ``loadRes`` reads."""
        keys = ("image_id", "category_id", "bbox", "score")
        return [{k: d[k] for k in keys} for d in self._coco_detections()]

    def _coco_detections(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cat = np.asarray(self.cat_ids, dtype=np.int64)
        for img_id, d in self._dets.items():
            if not len(d):
                continue
            xywh = np.concatenate([d[:, :2], d[:, 2:4] - d[:, :2]], 1).tolist()
            scores = d[:, 4].tolist()
            cats = cat[d[:, 5].astype(np.int64)].tolist()
            for b, s, c in zip(xywh, scores, cats):
                out.append(
                    {
                        "id": len(out) + 1,
                        "image_id": img_id,
                        "category_id": c,
                        "bbox": b,
                        "score": s,
                        "area": b[2] * b[3],
                        "iscrowd": 0,
                    }
                )
        return out

    def _instances(self, img_ids: set[int]) -> list[int]:
        assert self._gt is not None
        index = {c: k for k, c in enumerate(self.cat_ids)}
        counts = [0] * len(self.cat_ids)
        for a in self._gt["annotations"]:
            k = index.get(a["category_id"])
            if k is not None and a["image_id"] in img_ids and not a.get("iscrowd", 0):
                counts[k] += 1
        return counts

    def evaluate(self) -> dict[str, Any]:
        """Metrics over the images processed since ``reset``.

        Returns ``mAP50_95, mAP50, mAP75, mAP_small/medium/large, AR1, AR10, AR100,
        AR_small/medium/large`` (0 when undefined), ``num_images``, and per class (by name)
        ``per_class`` (AP50:95), ``per_class_ap50``, ``per_class_precision`` and
        ``per_class_recall`` (at the class's best-F1 point, IoU 0.5), ``per_class_instances``;
        a class with no gt in the evaluated images has NaN there (COCO leaves it out of the mean).
        """
        if self._results is not None:
            return self._results
        if self._gt is None:
            raise RuntimeError("COCOEvaluator.evaluate() before reset(dataset)")
        img_ids = sorted(self._dets)
        if img_ids:
            self.backend_used = resolve_backend(self.backend)
            gt = {**self._gt, "annotations": [dict(a) for a in self._gt["annotations"]]}
            self._arrays = evaluate_bbox(
                gt, self._coco_detections(), img_ids, self.cat_ids, self.backend_used
            )
            res: dict[str, Any] = summarize(self._arrays)
            ap = per_class_ap(self._arrays, self.cat_ids)
            ap50 = per_class_ap(self._arrays, self.cat_ids, iou=0.5)
            prec, rec = per_class_pr(self._arrays, self.cat_ids, iou=0.5)
        else:
            logger.warning("COCOEvaluator: no images were processed; all metrics are 0")
            res = dict.fromkeys(METRIC_KEYS, 0.0)
            ap = ap50 = prec = rec = [math.nan] * len(self.cat_ids)
        res["num_images"] = len(img_ids)
        res["per_class"] = dict(zip(self.class_names, ap))
        res["per_class_ap50"] = dict(zip(self.class_names, ap50))
        res["per_class_precision"] = dict(zip(self.class_names, prec))
        res["per_class_recall"] = dict(zip(self.class_names, rec))
        res["per_class_instances"] = dict(zip(self.class_names, self._instances(set(img_ids))))
        self._results = res
        return res

    def confusion_matrix(self) -> ConfusionMatrix:
        """A :class:`ConfusionMatrix` over the processed images (original pixels)."""
        assert self._gt is not None, "reset(dataset) first"
        index = {c: k for k, c in enumerate(self.cat_ids)}
        per_img: dict[int, list[tuple[list[float], int]]] = {i: [] for i in self._dets}
        for a in self._gt["annotations"]:
            k = index.get(a["category_id"])
            if k is not None and a["image_id"] in per_img and not a.get("iscrowd", 0):
                x, y, w, h = (float(v) for v in a["bbox"])
                per_img[a["image_id"]].append(([x, y, x + w, y + h], k))
        cm = ConfusionMatrix(len(self.cat_ids), conf=self.confusion_conf, iou_thres=self.confusion_iou)
        for img_id, d in self._dets.items():
            gts = per_img[img_id]
            boxes = np.array([g[0] for g in gts], dtype=np.float64).reshape(-1, 4)
            cm.process_batch(d, boxes, np.array([g[1] for g in gts], dtype=np.int64))
        return cm

    def save_plots(self, out_dir: str | Path) -> list[Path]:
        """Write ``pr_curve.png`` (IoU 0.5, per class and mean) and ``confusion_matrix.png``."""
        from detreg.evaluation.plots import plot_pr_curve

        out = Path(out_dir)
        self.evaluate()
        if self._arrays is not None:
            recall, precision = pr_curves(self._arrays, self.cat_ids, iou=0.5)
        else:
            recall, precision = np.linspace(0, 1, 101), np.full((len(self.cat_ids), 101), np.nan)
        paths = [plot_pr_curve(recall, precision, self.class_names, out / "pr_curve.png")]
        paths.append(self.confusion_matrix().plot(out / "confusion_matrix.png", self.class_names))
        return paths
