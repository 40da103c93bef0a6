"""run_evaluation with a tiny fake model gives the expected mAP and restores the mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from detreg.evaluation import COCOEvaluator, run_evaluation


class FixedModel(nn.Module):
    """``predict`` returns fixed boxes per image id, in the order the loader yields."""

    def __init__(self, outputs: list[torch.Tensor]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)
        self.outputs = list(outputs)
        self.calls: list[dict] = []

    def predict(self, images, conf_thres=0.03, iou_thres=0.65, max_det=300):
        self.calls.append(
            {
                "dtype": images.dtype,
                "max": float(images.max()),
                "training": self.training,
                "inference": torch.is_inference_mode_enabled(),
                "args": (conf_thres, iou_thres, max_det),
            }
        )
        out, self.outputs = self.outputs[: images.shape[0]], self.outputs[images.shape[0] :]
        return out


def _setup(helpers):
    gt = {1: [(10, 20, 110, 140, 0)], 2: [(30, 30, 90, 90, 1)], 3: [(100, 100, 200, 220, 2)]}
    ds = helpers.make_dataset(gt)
    loader = [helpers.make_batch(ds, [1, 2]), helpers.make_batch(ds, [3])]
    for b in loader:
        b["img"].fill_(255)
    return gt, ds, loader


def test_loop_perfect_model(helpers):
    gt, ds, loader = _setup(helpers)
    model = FixedModel([helpers.det([(*b[:4], 0.9, b[4]) for b in gt[i]]) for i in (1, 2, 3)])
    model.train()
    ev = COCOEvaluator(backend="pycocotools")
    ev.reset(ds)
    res = run_evaluation(model, loader, ev, "cpu", conf_thres=0.1, iou_thres=0.5, max_det=10, progress=False)
    assert res["mAP50_95"] == pytest.approx(1.0) and res["mAP50"] == pytest.approx(1.0)
    assert res["speed_ms_per_img"] >= 0 and res["eval_time_s"] >= 0
    assert model.training  # restored
    assert len(model.calls) == 2
    for call in model.calls:
        assert call["dtype"] == torch.float32 and call["max"] == 1.0
        assert not call["training"] and call["inference"]
        assert call["args"] == (0.1, 0.5, 10)


def test_loop_half_and_mode_restored_in_eval(helpers):
    gt, ds, loader = _setup(helpers)
    # one image found, one found at IoU 0.626 (shifted 23 px on a 100 px box), one missed
    outs = [
        helpers.det([(10, 20, 110, 140, 0.9, 0)]),
        helpers.det([]),
        helpers.det([(123, 100, 223, 200, 0.5, 2)]),
    ]
    gt[3] = [(100, 100, 200, 200, 2)]
    ds = helpers.make_dataset(gt)
    model = FixedModel(outs).eval()
    ev = COCOEvaluator(backend="pycocotools")
    ev.reset(ds)
    res = run_evaluation(model, loader, ev, torch.device("cpu"), half=True, progress=True)
    assert not model.training
    assert res["per_class"]["a"] == pytest.approx(1.0)
    assert res["per_class"]["b"] == 0.0
    assert res["per_class"]["c"] == pytest.approx(0.3)
    assert res["mAP50_95"] == pytest.approx((1.0 + 0.0 + 0.3) / 3)
    assert res["mAP50"] == pytest.approx(2 / 3)
