"""pycocotools and faster-coco-eval give the same numbers; 'auto' picks correctly."""

from __future__ import annotations

import pytest

from detreg.evaluation import COCOEvaluator
from detreg.evaluation.backends import (
    evaluate_bbox,
    faster_backend_verified,
    max_abs_diff,
    resolve_backend,
    synthetic_case,
)

pytest.importorskip("faster_coco_eval")


def _fresh(gt, dets):
    return {**gt, "annotations": [dict(a) for a in gt["annotations"]]}, [dict(d) for d in dets]


def test_raw_arrays_agree_on_generated_case():
    gt, dets, img_ids, cat_ids = synthetic_case(num_images=80, num_classes=6, gt_per_image=8, seed=3)
    a = evaluate_bbox(*_fresh(gt, dets), img_ids, cat_ids, "pycocotools")
    b = evaluate_bbox(*_fresh(gt, dets), img_ids, cat_ids, "faster_coco_eval")
    assert 0.05 < a.precision[a.precision > -1].mean() < 0.95  # a non-trivial case
    assert max_abs_diff(a, b) <= 1e-6


def test_evaluator_results_agree(helpers):
    gt, dets, img_ids, cat_ids = synthetic_case(num_images=40, num_classes=4, gt_per_image=6, seed=7)

    class DS:
        class_names = [f"c{c}" for c in cat_ids]

        def coco_gt(self):
            return gt

    DS.cat_ids = cat_ids
    index = {c: k for k, c in enumerate(cat_ids)}
    results = {}
    for backend in ("pycocotools", "faster_coco_eval"):
        ev = COCOEvaluator(backend=backend)
        ev.reset(DS())
        for img in gt["images"]:
            rows = [(*d["bbox"][:2], d["bbox"][0] + d["bbox"][2], d["bbox"][1] + d["bbox"][3], d["score"],
                     index[d["category_id"]]) for d in dets if d["image_id"] == img["id"]]  # fmt: skip
            batch = {"image_ids": [img["id"]], "ori_shapes": [(img["height"], img["width"])],
                     "ratio_pad": [((1.0, 1.0), (0.0, 0.0))]}  # fmt: skip
            ev.process([helpers.det(rows)], batch)
        results[backend] = ev.evaluate()
        assert ev.backend_used == backend
    a, b = results["pycocotools"], results["faster_coco_eval"]
    for key, value in a.items():
        if isinstance(value, dict):
            assert b[key] == pytest.approx(value, abs=1e-6, nan_ok=True), key
        else:
            assert b[key] == pytest.approx(value, abs=1e-6), key
    assert 0.0 < a["mAP50_95"] < a["mAP50"] < 1.0


def test_auto_prefers_verified_faster_backend():
    assert faster_backend_verified()
    assert resolve_backend("auto") == "faster_coco_eval"
    assert resolve_backend("pycocotools") == "pycocotools"
