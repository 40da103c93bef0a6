"""Box math against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from detreg.ops.boxes import (
    bbox2dist,
    bbox_iou,
    box_iou,
    dist2bbox,
    scale_boxes,
    xywh2xyxy,
    xyxy2xywh,
)

A = torch.tensor([0.0, 0.0, 2.0, 2.0])
B = torch.tensor([1.0, 1.0, 3.0, 3.0])  # same shape, shifted by (1, 1)
C = torch.tensor([1.0, -1.0, 3.0, 3.0])  # 2 x 4, centre (2, 1): offset (1, 0) from A's (1, 1)


def test_format_round_trip():
    xyxy = torch.tensor([[1.0, 2.0, 5.0, 10.0]])
    assert torch.equal(xyxy2xywh(xyxy), torch.tensor([[3.0, 6.0, 4.0, 8.0]]))
    assert torch.equal(xywh2xyxy(xyxy2xywh(xyxy)), xyxy)


def test_box_iou_pairwise():
    # A vs B: intersection [1,2]x[1,2] = 1, union 4 + 4 - 1 = 7
    iou = box_iou(torch.stack((A, B)), torch.stack((B, torch.tensor([5.0, 5, 6, 6]))))
    expected = torch.tensor([[1 / 7, 0.0], [1.0, 0.0]])
    assert torch.allclose(iou, expected, atol=1e-6)


@pytest.mark.parametrize(
    "iou_type, expected",
    [
        ("iou", 1 / 7),
        # enclosing box [0,0,3,3]: C = 9, U = 7 -> 1/7 - 2/9 = -5/63
        ("giou", -5 / 63),
        # centres (1,1),(2,2): rho^2 = 2; enclosing diagonal^2 = 18 -> 1/7 - 1/9 = 2/63
        ("diou", 2 / 63),
        # equal aspect ratios: v = 0, so CIoU = DIoU
        ("ciou", 2 / 63),
        # 45 deg offset: Lambda = sin(90 deg) = 1, gamma = -1; rho_x = rho_y = (1/3)^2;
        # Delta = 2 - 2 exp(-1/9); Omega = 0 (same shape) -> 1/7 - (1 - exp(-1/9))
        ("siou", 1 / 7 - (1 - math.exp(-1 / 9))),
    ],
)
def test_bbox_iou_family_shifted_square(iou_type, expected):
    assert bbox_iou(A, B, iou_type).item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(
    "iou_type, expected",
    [
        # intersection [1,2]x[0,2] = 2; union 4 + 8 - 2 = 10
        ("iou", 0.2),
        # enclosing [0,-1,3,3] = 12 -> 0.2 - 2/12
        ("giou", 0.2 - 2 / 12),
        # rho^2 = 1, c^2 = 3^2 + 4^2 = 25
        ("diou", 0.2 - 1 / 25),
        # v = 4/pi^2 (atan(2/4) - atan(2/2))^2, alpha = v / (v - 0.2 + 1)
        (
            "ciou",
            0.2 - 1 / 25 - (v := 4 / math.pi**2 * (math.atan(0.5) - math.atan(1.0)) ** 2) ** 2 / (v + 0.8),
        ),
        # horizontal offset: Lambda = 0, gamma = -2; rho_x = (1/3)^2, rho_y = 0
        # Delta = 1 - exp(-2/9); omega_w = 0, omega_h = |2-4|/4 = 0.5 -> Omega = (1 - e^-0.5)^4
        ("siou", 0.2 - 0.5 * ((1 - math.exp(-2 / 9)) + (1 - math.exp(-0.5)) ** 4)),
    ],
)
def test_bbox_iou_family_different_shape(iou_type, expected):
    assert bbox_iou(A, C, iou_type).item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("iou_type", ["iou", "giou", "diou", "ciou", "siou"])
def test_identical_boxes_give_one_and_finite_grads(iou_type):
    pred = A.clone().requires_grad_(True)
    val = bbox_iou(pred[None], A[None], iou_type)
    assert val.item() == pytest.approx(1.0, abs=1e-5)
    (1 - val).sum().backward()
    assert torch.isfinite(pred.grad).all()


def test_bbox_iou_broadcasts_and_rejects_unknown_type():
    out = bbox_iou(torch.stack((A, B))[:, None], torch.stack((A, B))[None], "giou")
    assert out.shape == (2, 2)
    with pytest.raises(ValueError, match="iou_type"):
        bbox_iou(A, B, "nope")


def test_dist_round_trip_and_clip():
    points = torch.tensor([[5.0, 5.0], [2.0, 3.0]])
    dist = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 1.5, 2.5]])
    boxes = dist2bbox(dist, points)
    assert torch.equal(boxes[0], torch.tensor([4.0, 3.0, 8.0, 9.0]))
    assert torch.allclose(bbox2dist(points, boxes, reg_max=16), dist)
    assert torch.equal(dist2bbox(dist, points, xywh=True)[0], torch.tensor([6.0, 6.0, 4.0, 6.0]))
    # distances beyond reg_max clip to reg_max - 0.01, negative ones to 0
    far = bbox2dist(points[:1], torch.tensor([[-20.0, 6.0, 8.0, 9.0]]), reg_max=16)
    assert torch.allclose(far, torch.tensor([[15.99, 0.0, 3.0, 4.0]]))


def test_scale_boxes_undoes_letterbox_and_clips():
    # original (h, w) = (100, 200), ratio 0.5, pad (w 10, h 20): input = orig * 0.5 + pad
    ratio_pad = ((0.5, 0.5), (10.0, 20.0))
    boxes = torch.tensor([[60.0, 45.0, 110.0, 70.0, 0.9, 3.0], [0.0, 0.0, 500.0, 500.0, 0.5, 1.0]])
    out = scale_boxes(boxes, ratio_pad, (100, 200))
    assert torch.allclose(out[0], torch.tensor([100.0, 50.0, 200.0, 100.0, 0.9, 3.0]))
    assert torch.allclose(out[1, :4], torch.tensor([0.0, 0.0, 200.0, 100.0]))  # clipped
    assert torch.equal(boxes[0, 0], torch.tensor(60.0))  # input untouched
