"""TaskAlignedAssigner on a hand-worked 2-gt / 4-anchor case, padding, empty and bad gts."""

from __future__ import annotations

import pytest
import torch

from detreg.assigners.tal import TaskAlignedAssigner
from detreg.errors import DetregError
from detreg.ops.anchors import make_anchors

# One 2x2 level, stride 10: anchor points a0 (5,5), a1 (15,5), a2 (5,15), a3 (15,15).
ANCHORS = make_anchors([(2, 2)], [10])
# gt0 [0,0,20,10] class 0 holds a0, a1; gt1 [0,0,10,20] class 1 holds a0, a2; a3 is in neither.
GT_BOXES = torch.tensor([[[0, 0, 20, 10], [0, 0, 10, 20.0]]])
GT_LABELS = torch.tensor([[[0.0], [1.0]]])
MASK = torch.ones(1, 2, 1, dtype=torch.bool)
# Predicted boxes and their IoU with gt0 / gt1:
#   a0 [0,0,10,12]: gt0 100/220 = 0.4545, gt1 120/200 = 0.6
#   a1 [0,0,20,10]: gt0 1.0,               gt1 100/300
#   a2 [0,10,10,20]: gt0 0,                 gt1 100/200 = 0.5
#   a3 [10,10,20,20]: outside both gts
PRED_BOXES = torch.tensor([[[0, 0, 10, 12], [0, 0, 20, 10], [0, 10, 10, 20], [10, 10, 20, 20.0]]])
PRED_SCORES = torch.tensor([[[0.5, 0.8], [0.9, 0.1], [0.2, 0.4], [0.7, 0.7]]])


def test_hand_worked_topk2_with_conflict():
    # t = s * IoU^6 (alpha 1, beta 6):
    #   gt0: a0 0.5 * 0.4545^6 = 0.00444, a1 0.9 * 1 = 0.9        -> top2 {a0, a1}
    #   gt1: a0 0.8 * 0.6^6 = 0.0373248, a2 0.4 * 0.5^6 = 0.00625 -> top2 {a0, a2}
    # a0 is claimed twice; IoU 0.6 (gt1) > 0.4545 (gt0), so a0 -> gt1.
    # Scores: gt0 positives {a1}: norm = 0.9 * 1.0 / 0.9 = 1.0
    #         gt1 positives {a0, a2}: max t 0.0373248, max IoU 0.6:
    #           a0 -> 0.6, a2 -> 0.00625 * 0.6 / 0.0373248 = 0.100469
    res = TaskAlignedAssigner(topk=2)(PRED_SCORES, PRED_BOXES, ANCHORS, GT_LABELS, GT_BOXES, MASK)
    assert res.labels.tolist() == [[1, 0, 1, 2]]  # 2 = background (num_classes)
    assert res.fg_mask.tolist() == [[True, True, True, False]]
    assert res.gt_idx[0, :3].tolist() == [1, 0, 1]
    assert torch.equal(res.bboxes[0, 1], GT_BOXES[0, 0]) and torch.equal(res.bboxes[0, 2], GT_BOXES[0, 1])
    assert torch.equal(res.bboxes[0, 3], torch.zeros(4))
    expected = torch.tensor([[0, 0.6], [1.0, 0], [0, 0.100469], [0, 0]])
    assert torch.allclose(res.scores[0], expected, atol=1e-5)


def test_hand_worked_topk1():
    # top1: gt0 -> a1 (0.9), gt1 -> a0 (0.0373); no conflict, a2 and a3 background
    res = TaskAlignedAssigner(topk=1)(PRED_SCORES, PRED_BOXES, ANCHORS, GT_LABELS, GT_BOXES, MASK)
    assert res.labels.tolist() == [[1, 0, 2, 2]]
    expected = torch.tensor([[0, 0.6], [1.0, 0], [0, 0], [0, 0]])
    assert torch.allclose(res.scores[0], expected, atol=1e-5)


def test_padded_batch_and_image_without_gt():
    # image 1 has no gt: its slots are padding and it must be all background
    scores = torch.cat((PRED_SCORES, PRED_SCORES))
    boxes = torch.cat((PRED_BOXES, PRED_BOXES))
    gt_boxes = torch.cat((GT_BOXES, torch.zeros(1, 2, 4)))
    labels = torch.cat((GT_LABELS, torch.zeros(1, 2, 1)))
    mask = torch.tensor([[[True], [True]], [[False], [False]]])
    res = TaskAlignedAssigner(topk=2)(scores, boxes, ANCHORS, labels, gt_boxes, mask)
    assert res.labels.tolist() == [[1, 0, 1, 2], [2, 2, 2, 2]]
    assert res.scores[1].sum() == 0 and not res.fg_mask[1].any()


def test_batch_without_any_gt_is_all_background():
    for m in (0, 3):
        res = TaskAlignedAssigner()(
            PRED_SCORES,
            PRED_BOXES,
            ANCHORS,
            torch.zeros(1, m, 1),
            torch.zeros(1, m, 4),
            torch.zeros(1, m, 1, dtype=torch.bool),
        )
        assert res.labels.tolist() == [[2, 2, 2, 2]]
        assert res.scores.shape == (1, 4, 2) and res.scores.sum() == 0
        assert not res.fg_mask.any() and res.bboxes.abs().sum() == 0


@pytest.mark.parametrize(
    "box, match",
    [
        ([5.0, 0.0, 2.0, 10.0], "degenerate"),  # x2 < x1
        ([0.0, 0.0, float("nan"), 10.0], "degenerate"),
        ([0.0, 0.0, float("inf"), 10.0], "degenerate"),
    ],
)
def test_degenerate_gt_raises(box, match):
    gt = GT_BOXES.clone()
    gt[0, 1] = torch.tensor(box)
    with pytest.raises(DetregError, match=match):
        TaskAlignedAssigner()(PRED_SCORES, PRED_BOXES, ANCHORS, GT_LABELS, gt, MASK)


def test_bad_class_raises_but_padding_is_ignored():
    with pytest.raises(DetregError, match="class 5"):
        TaskAlignedAssigner()(
            PRED_SCORES, PRED_BOXES, ANCHORS, torch.tensor([[[0.0], [5.0]]]), GT_BOXES, MASK
        )
    # a degenerate box in a padded slot is not a real gt
    gt = GT_BOXES.clone()
    gt[0, 1] = torch.tensor([5.0, 0.0, 2.0, float("nan")])
    mask = torch.tensor([[[True], [False]]])
    res = TaskAlignedAssigner(topk=1)(PRED_SCORES, PRED_BOXES, ANCHORS, GT_LABELS, gt, mask)
    assert res.labels.tolist() == [[2, 0, 2, 2]]


def test_per_image_path_matches_batched():
    g = torch.Generator().manual_seed(0)
    anchors = make_anchors([(8, 8), (4, 4)], [8, 16])
    b, a = 3, anchors.points.shape[0]
    scores = torch.rand(b, a, 4, generator=g)
    xy = torch.rand(b, a, 2, generator=g) * 64
    boxes = torch.cat((xy - 10, xy + 10), -1)
    gxy = torch.rand(b, 5, 2, generator=g) * 50 + 7
    gt = torch.cat((gxy - 6, gxy + 6), -1)
    labels = torch.randint(0, 4, (b, 5, 1), generator=g).float()
    mask = torch.rand(b, 5, 1, generator=g) > 0.3
    full = TaskAlignedAssigner(topk=5)(scores, boxes, anchors, labels, gt, mask)
    split = TaskAlignedAssigner(topk=5, max_batched_gts=0)(scores, boxes, anchors, labels, gt, mask)
    for x, y in zip(vars(full).values(), vars(split).values()):
        assert torch.equal(x, y)
    assert full.fg_mask.any()
    # every positive's centre lies inside its gt, and no anchor has two gts
    pts = anchors.points[None].expand(b, -1, -1)[full.fg_mask]
    bx = full.bboxes[full.fg_mask]
    assert ((pts > bx[:, :2]) & (pts < bx[:, 2:])).all()
