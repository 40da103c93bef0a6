"""Predictions in input pixels map back to original pixels exactly (and clipped)."""

from __future__ import annotations

import numpy as np
import pytest

from detreg.evaluation import COCOEvaluator
from detreg.evaluation.boxes import letterbox_ratio_pad


def _to_input(box, ratio_pad):
    (rh, rw), (pw, ph) = ratio_pad
    x1, y1, x2, y2 = box
    return (x1 * rw + pw, y1 * rh + ph, x2 * rw + pw, y2 * rh + ph)


def _evaluator_dets(helpers, gt, sizes, rps, preds):
    ds = helpers.make_dataset(gt, sizes=sizes)
    ev = COCOEvaluator(backend="pycocotools")
    ev.reset(ds)
    ids = list(gt)
    ev.process([helpers.det(p) for p in preds], helpers.make_batch(ds, ids, ratio_pad=rps))
    return ev


def test_non_uniform_ratio_inverts_exactly(helpers):
    rp = ((0.5, 0.25), (16.0, 8.0))  # ratio_h != ratio_w, both pads
    gt = {1: [(10.0, 20.0, 110.0, 140.0, 0), (0.0, 0.0, 640.0, 480.0, 1)]}
    preds = [[(*_to_input(b[:4], rp), 0.9, b[4]) for b in gt[1]]]
    ev = _evaluator_dets(helpers, gt, {1: (480, 640)}, [rp], preds)
    np.testing.assert_allclose(ev._dets[1][:, :4], [b[:4] for b in gt[1]], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ev._dets[1][:, 4:], [[np.float32(0.9), 0], [np.float32(0.9), 1]])


def test_boxes_are_clipped_to_the_original_image(helpers):
    rp = ((1.0, 1.0), (32.0, 0.0))
    ev = _evaluator_dets(helpers, {1: []}, {1: (480, 640)}, [rp], [[(0.0, -5.0, 700.0, 500.0, 0.5, 0)]])
    np.testing.assert_array_equal(ev._dets[1][:, :4], [[0.0, 0.0, 640.0, 480.0]])


def test_tensor_ratio_pad_values(helpers):
    import torch

    rp = ((torch.tensor(0.5), torch.tensor(0.5)), (torch.tensor(4.0), torch.tensor(2.0)))
    ev = _evaluator_dets(helpers, {1: []}, {1: (480, 640)}, [rp], [[(9.0, 12.0, 54.0, 52.0, 0.5, 0)]])
    np.testing.assert_array_equal(ev._dets[1][:, :4], [[10.0, 20.0, 100.0, 100.0]])


def test_letterbox_fallback():
    (rh, rw), (pw, ph) = letterbox_ratio_pad((640, 640), (480, 320))
    assert rh == rw == pytest.approx(640 / 480)
    assert (pw, ph) == (pytest.approx((640 - 320 * 640 / 480) / 2), 0.0)


def test_evaluator_maps_back_exactly(helpers, backend):
    gt = {1: [(10, 20, 110, 140, 0)], 2: [(30, 40, 330, 200, 1)]}
    ds = helpers.make_dataset(gt, sizes={1: (480, 640), 2: (300, 500)})
    rps = [((0.5, 0.5), (0.0, 80.0)), ((1.28, 1.28), (0.0, 128.0))]
    preds = [helpers.det([(*_to_input(b[:4], rp), 0.9, b[4]) for b in gt[i]]) for i, rp in zip((1, 2), rps)]
    ev = COCOEvaluator(backend=backend)
    ev.reset(ds)
    ev.process(preds, helpers.make_batch(ds, [1, 2], ratio_pad=rps))
    for i in (1, 2):
        np.testing.assert_allclose(ev._dets[i][:, :4], [b[:4] for b in gt[i]], atol=1e-4)
    assert ev.evaluate()["mAP50_95"] == pytest.approx(1.0)


def test_missing_ratio_pad_uses_letterbox(helpers):
    ds = helpers.make_dataset({1: [(0, 0, 320, 240, 0)]}, sizes={1: (480, 640)})
    batch = helpers.make_batch(ds, [1], size=320)  # 640x480 letterboxed into 320x320
    del batch["ratio_pad"]
    ev = COCOEvaluator(backend="pycocotools")
    ev.reset(ds)
    ev.process([helpers.det([(0, 40, 160, 160, 0.9, 0)])], batch)
    np.testing.assert_allclose(ev._dets[1][0, :4], [0, 0, 320, 240])
