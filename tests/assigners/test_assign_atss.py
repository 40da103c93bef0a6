"""ATSSAssigner on a hand-worked 4-anchor case, padding and empty batches."""

from __future__ import annotations

import pytest
import torch

from detreg.assigners.atss import ATSSAssigner
from detreg.assigners.targets import pad_targets
from detreg.errors import DetregError
from detreg.ops.anchors import make_anchors

# One 2x2 level, stride 10, grid_cell_size 1: anchor boxes are the cells
# a0 [0,0,10,10] (5,5), a1 [10,0,20,10] (15,5), a2 [0,10,10,20] (5,15), a3 [10,10,20,20] (15,15)
ANCHORS = make_anchors([(2, 2)], [10], grid_cell_size=1.0)
# gt0 [0,0,11,10] cls 0: centre (5.5,5); d^2 = 0.25, 90.25, 100.25, 190.25 -> top3 {a0,a1,a2}
#   IoU 100/110 = 0.9091, 10/200 = 0.05, 0 -> thr = mean + std(unbiased) = 0.8307 -> a0
# gt1 [0,0,10,12] cls 1: centre (5,6); top3 {a0,a2,a1}
#   IoU 100/120 = 0.8333, 20/200 = 0.1, 0 -> thr 0.7661 -> a0 (conflict with gt0!)
# gt2 [10,10,20,20] cls 1: top3 {a3,a1,a2}, IoU 1, 0, 0 -> thr 1/3 + sqrt(1/3) = 0.9107 -> a3
# a0 is claimed by gt0 and gt1: anchor IoU 0.9091 > 0.8333 -> gt0.
GT_BOXES = torch.tensor([[[0, 0, 11, 10], [0, 0, 10, 12], [10, 10, 20, 20.0]]])
GT_LABELS = torch.tensor([[[0.0], [1.0], [1.0]]])
MASK = torch.ones(1, 3, 1, dtype=torch.bool)
SCORES = torch.zeros(1, 4, 2)  # ATSS ignores predicted scores


def test_hand_worked_case_one_hot_scores():
    res = ATSSAssigner(topk=3)(SCORES, None, ANCHORS, GT_LABELS, GT_BOXES, MASK)
    assert res.labels.tolist() == [[0, 2, 2, 1]]
    assert res.gt_idx[0, [0, 3]].tolist() == [0, 2]
    assert torch.equal(res.scores[0], torch.tensor([[1.0, 0], [0, 0], [0, 0], [0, 1.0]]))
    assert torch.equal(res.bboxes[0, 0], GT_BOXES[0, 0])


def test_scores_are_iou_with_predicted_boxes():
    # pred a0 = gt0 exactly (IoU 1); pred a3 [10,10,20,15] vs gt2: 50/100 = 0.5
    pred = torch.tensor([[[0, 0, 11, 10], [0, 0, 1, 1], [0, 0, 1, 1], [10, 10, 20, 15.0]]])
    res = ATSSAssigner(topk=3)(SCORES, pred, ANCHORS, GT_LABELS, GT_BOXES, MASK)
    expected = torch.tensor([[1.0, 0], [0, 0], [0, 0], [0, 0.5]])
    assert torch.allclose(res.scores[0], expected, atol=1e-6)


def test_centre_outside_gt_is_not_positive():
    # gt [0,0,4,4] overlaps a0's box best but a0's centre (5,5) lies outside it
    gt = torch.tensor([[[0, 0, 4, 4.0]]])
    res = ATSSAssigner(topk=3)(
        SCORES, None, ANCHORS, torch.zeros(1, 1, 1), gt, torch.ones(1, 1, 1, dtype=bool)
    )
    assert not res.fg_mask.any()


def test_empty_batch_and_padding():
    for m in (0, 2):
        res = ATSSAssigner()(
            SCORES,
            None,
            ANCHORS,
            torch.zeros(1, m, 1),
            torch.zeros(1, m, 4),
            torch.zeros(1, m, 1, dtype=bool),
        )
        assert res.labels.tolist() == [[2, 2, 2, 2]] and res.scores.sum() == 0 and not res.fg_mask.any()
    # image 1 has only padding
    res = ATSSAssigner(topk=3)(
        SCORES.expand(2, -1, -1),
        None,
        ANCHORS,
        torch.cat((GT_LABELS, torch.zeros(1, 3, 1))),
        torch.cat((GT_BOXES, torch.zeros(1, 3, 4))),
        torch.cat((MASK, torch.zeros(1, 3, 1, dtype=bool))),
    )
    assert res.labels.tolist() == [[0, 2, 2, 1], [2, 2, 2, 2]]


def test_degenerate_gt_raises():
    gt = GT_BOXES.clone()
    gt[0, 2, 3] = 5.0  # y2 < y1
    with pytest.raises(DetregError, match="degenerate"):
        ATSSAssigner()(SCORES, None, ANCHORS, GT_LABELS, gt, MASK)


def test_pad_targets():
    # (img_idx, cls, cx, cy, w, h) normalised to (H, W) = (100, 200); image 1 first in the list
    targets = torch.tensor(
        [[1, 3, 0.5, 0.5, 0.1, 0.2], [0, 1, 0.25, 0.5, 0.5, 0.2], [1, 2, 0.1, 0.1, 0.1, 0.1]]
    )
    labels, boxes, mask = pad_targets(targets, 3, (100, 200))
    assert labels.shape == (3, 2, 1) and mask[:, :, 0].tolist() == [
        [True, False],
        [True, True],
        [False, False],
    ]
    assert labels[1, :, 0].tolist() == [3.0, 2.0] and labels[0, 0, 0] == 1.0
    assert torch.allclose(boxes[0, 0], torch.tensor([0.0, 40.0, 100.0, 60.0]))
    assert torch.allclose(boxes[1, 0], torch.tensor([90.0, 40.0, 110.0, 60.0]))
    labels, boxes, mask = pad_targets(torch.zeros(0, 6), 2, (64, 64))
    assert boxes.shape == (2, 0, 4) and not mask.any()
    with pytest.raises(DetregError, match="image indices"):
        pad_targets(torch.tensor([[2.0, 0, 0.5, 0.5, 0.1, 0.1]]), 2, (64, 64))
