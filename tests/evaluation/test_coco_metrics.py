"""COCOEvaluator numbers on hand-made cases with known answers (both backends)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detreg.evaluation import COCOEvaluator, format_table
from detreg.registry import EVALUATORS

COCO_THRS = np.linspace(0.5, 0.95, 10)


def _run(helpers, dataset, preds_by_img, backend, ratio_pad=None):
    ev = COCOEvaluator(backend=backend)
    ev.reset(dataset)
    ids = list(preds_by_img)
    ev.process([helpers.det(preds_by_img[i]) for i in ids], helpers.make_batch(dataset, ids, ratio_pad))
    return ev, ev.evaluate()


def _shift_iou(side: float, d: float) -> float:
    """IoU of a square with its copy shifted horizontally by ``d``."""
    return (side - d) * side / ((side + d) * side)


def test_registered_with_alias():
    assert EVALUATORS.get("COCOEvaluator") is COCOEvaluator
    assert EVALUATORS.get("COCOMetric") is COCOEvaluator
    ev = EVALUATORS.build({"type": "COCOMetric", "backend": "pycocotools"})
    assert isinstance(ev, COCOEvaluator)


def test_perfect_predictions_give_one(helpers, backend):
    gt = {1: [(10, 20, 110, 140, 0), (200, 200, 300, 260, 1)], 2: [(5, 5, 405, 305, 2)]}
    ds = helpers.make_dataset(gt)
    preds = {i: [(*b[:4], 0.9, b[4]) for b in boxes] for i, boxes in gt.items()}
    _, res = _run(helpers, ds, preds, backend)
    assert res["mAP50"] == pytest.approx(1.0)
    assert res["mAP50_95"] == pytest.approx(1.0)
    assert res["AR100"] == pytest.approx(1.0)
    assert res["per_class"] == pytest.approx({"a": 1.0, "b": 1.0, "c": 1.0})
    assert res["per_class_instances"] == {"a": 1, "b": 1, "c": 1}
    assert res["num_images"] == 2


def test_shifted_boxes_follow_coco_thresholds(helpers, backend):
    # class a: shift 23 px on a 100 px square (IoU 0.626); class b: shift 12 (IoU 0.786)
    gt = {1: [(100, 100, 200, 200, 0)], 2: [(50, 50, 150, 150, 1)]}
    ds = helpers.make_dataset(gt)
    preds = {1: [(123, 100, 223, 200, 0.8, 0)], 2: [(62, 50, 162, 150, 0.7, 1)]}
    _, res = _run(helpers, ds, preds, backend)
    ap_a = float(np.mean(_shift_iou(100, 23) >= COCO_THRS))  # 3 of 10 thresholds
    ap_b = float(np.mean(_shift_iou(100, 12) >= COCO_THRS))  # 6 of 10 thresholds
    assert (ap_a, ap_b) == (0.3, 0.6)
    assert res["per_class"]["a"] == pytest.approx(ap_a)
    assert res["per_class"]["b"] == pytest.approx(ap_b)
    assert math.isnan(res["per_class"]["c"])  # no gt: left out of the mean
    assert res["mAP50"] == pytest.approx(1.0)
    assert res["mAP50_95"] == pytest.approx((ap_a + ap_b) / 2)
    assert res["mAP75"] == pytest.approx(0.5)


def test_no_predictions_give_zero(helpers, backend):
    ds = helpers.make_dataset({1: [(10, 10, 50, 50, 0)], 2: []})
    _, res = _run(helpers, ds, {1: [], 2: []}, backend)
    assert res["mAP50_95"] == 0.0 and res["mAP50"] == 0.0 and res["AR100"] == 0.0
    assert res["per_class"]["a"] == 0.0
    assert math.isnan(res["per_class"]["b"]) and math.isnan(res["per_class"]["c"])


def test_nothing_processed_and_no_gt_do_not_crash(helpers, backend):
    ds = helpers.make_dataset({1: [], 2: []})
    ev = COCOEvaluator(backend=backend)
    ev.reset(ds)
    assert ev.evaluate()["mAP50_95"] == 0.0  # no images at all
    ev.reset()
    ev.process([helpers.det([(1, 1, 9, 9, 0.5, 0)]), helpers.det([])], helpers.make_batch(ds, [1, 2]))
    res = ev.evaluate()  # images but no gt anywhere: COCO's -1 becomes 0
    assert res["mAP50_95"] == 0.0 and res["mAP50"] == 0.0
    assert all(math.isnan(v) for v in res["per_class"].values())


def test_false_positive_on_empty_image_ranks_before_true_positive(helpers, backend):
    ds = helpers.make_dataset({1: [(10, 10, 60, 60, 0)], 2: []})
    preds = {1: [(10, 10, 60, 60, 0.8, 0)], 2: [(0, 0, 40, 40, 0.9, 0)]}
    _, res = _run(helpers, ds, preds, backend)
    assert res["mAP50"] == pytest.approx(0.5)  # precision 1/2 at every recall point
    preds[2] = [(0, 0, 40, 40, 0.7, 0)]  # ranked after the hit: no harm
    _, res = _run(helpers, ds, preds, backend)
    assert res["mAP50"] == pytest.approx(1.0)


def test_category_ids_round_trip(helpers, backend):
    # class index 2 <-> COCO category id 7; index 1 <-> id 3
    ds = helpers.make_dataset({1: [(10, 10, 90, 90, 2), (200, 100, 300, 180, 1)]}, cat_ids=(1, 3, 7))
    ev, res = _run(helpers, ds, {1: [(10, 10, 90, 90, 0.9, 2), (200, 100, 300, 180, 0.8, 1)]}, backend)
    assert res["mAP50_95"] == pytest.approx(1.0)
    assert sorted(d["category_id"] for d in ev._coco_detections()) == [3, 7]
    # the right box with the wrong class index scores nothing
    _, res = _run(helpers, ds, {1: [(10, 10, 90, 90, 0.9, 0), (200, 100, 300, 180, 0.8, 2)]}, backend)
    assert res["mAP50_95"] == 0.0


def test_duplicate_image_ids_ignored_and_unknown_rejected(helpers):
    ds = helpers.make_dataset({1: [(10, 10, 50, 50, 0)]})
    ev = COCOEvaluator(backend="pycocotools")
    ev.reset(ds)
    ev.process([helpers.det([(10, 10, 50, 50, 0.9, 0)])], helpers.make_batch(ds, [1]))
    ev.process([helpers.det([(300, 300, 350, 350, 0.99, 0)])], helpers.make_batch(ds, [1]))  # padded repeat
    assert ev.evaluate()["mAP50_95"] == pytest.approx(1.0)
    batch = helpers.make_batch(ds, [1])
    batch["image_ids"] = [99]
    with pytest.raises(ValueError, match="image id 99"):
        ev.process([helpers.det([])], batch)
    with pytest.raises(ValueError, match="out of range"):
        ev.reset()
        ev.process([helpers.det([(1, 1, 5, 5, 0.9, 3)])], helpers.make_batch(ds, [1]))


def test_bad_backend_name():
    with pytest.raises(ValueError, match="unknown COCO backend"):
        COCOEvaluator(backend="detectron")


def test_dataset_gt_is_not_mutated(helpers):
    ds = helpers.make_dataset({1: [(10, 10, 50, 50, 0)]})
    before = [dict(a) for a in ds.anns]
    _run(helpers, ds, {1: [(10, 10, 50, 50, 0.9, 0)]}, "pycocotools")
    assert ds.anns == before


def test_format_table(helpers):
    ds = helpers.make_dataset(
        {1: [(10, 10, 50, 50, 0), (60, 60, 90, 90, 0)]}, class_names=("person", "car", "dog")
    )
    _, res = _run(helpers, ds, {1: [(10, 10, 50, 50, 0.9, 0)]}, "pycocotools")
    text = format_table(res)
    lines = text.splitlines()
    assert lines[0].split() == ["class", "instances", "P", "R", "AP50", "AP50_95"]
    assert lines[2].split()[:4] == ["all", "2", "1.000", "0.500"]  # means over classes with gt
    # one of two found, no false positive: P 1, R 0.5; AP 51/101
    assert lines[3].split() == ["person", "2", "1.000", "0.500", "0.505", "0.505"]
    assert lines[4].split() == ["car", "0", "-", "-", "-", "-"]


def test_precision_recall_at_the_best_f1_point(helpers):
    ds = helpers.make_dataset(
        {1: [(10, 10, 50, 50, 0), (60, 60, 90, 90, 0)], 2: [(10, 10, 40, 40, 1)]}, class_names=("a", "b", "c")
    )
    dets = {
        1: [
            (10, 10, 50, 50, 0.9, 0),
            (60, 60, 90, 90, 0.8, 0),
            (5, 60, 30, 90, 0.95, 0),
        ],  # 1 FP ranked first
        2: [(60, 60, 90, 90, 0.7, 1)],  # class b: only a false positive
    }
    _, res = _run(helpers, ds, dets, "pycocotools")
    p, r = res["per_class_precision"], res["per_class_recall"]
    assert r["a"] == pytest.approx(1.0) and p["a"] == pytest.approx(2 / 3)  # all found at 3 detections
    assert (p["b"], r["b"]) == (0.0, 0.0)
