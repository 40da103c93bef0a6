"""NMS: exact agreement with a plain greedy loop, and post-processing."""

from __future__ import annotations

import pytest
import torch

from detreg.ops import nms as nms_mod
from detreg.ops.nms import batched_nms, nms, nms_greedy_loop, postprocess


def random_boxes(n: int, seed: int, classes: int = 3, size: float = 100.0):
    g = torch.Generator().manual_seed(seed)
    cxy = torch.rand(n, 2, generator=g) * size
    wh = 5 + torch.rand(n, 2, generator=g) * 40
    boxes = torch.cat((cxy - wh / 2, cxy + wh / 2), 1)
    scores = torch.rand(n, generator=g)
    idxs = torch.randint(0, classes, (n,), generator=g)
    return boxes, scores, idxs


def test_hand_case():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    # box 3 (best) overlaps box 0 by 0.9 -> 0 dropped; box 1 overlaps 3 by 72/(90+100-72)=0.61 -> kept
    keep = nms(boxes, scores, 0.65)
    assert keep.tolist() == [3, 1, 2]
    # class-aware: box 0 in another class survives
    keep = batched_nms(boxes, scores, torch.tensor([1, 0, 0, 0]), 0.65)
    assert keep.tolist() == [3, 0, 1, 2]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("thr", [0.3, 0.65])
def test_torch_backend_equals_greedy_loop(seed, thr):
    boxes, scores, idxs = random_boxes(400, seed)
    ref = nms_greedy_loop(boxes, scores, idxs, thr)
    assert torch.equal(batched_nms(boxes, scores, idxs, thr, backend="torch"), ref)


@pytest.mark.parametrize("seed", range(3))
def test_tiled_path_equals_greedy_loop(seed, monkeypatch):
    monkeypatch.setattr(nms_mod, "_BATCH_BUDGET", 50 * 50)  # groups of > 50 boxes go through tiles
    monkeypatch.setattr(nms_mod, "_TILE", 32)
    boxes, scores, idxs = random_boxes(300, seed, classes=2, size=60.0)
    ref = nms_greedy_loop(boxes, scores, idxs, 0.5)
    assert torch.equal(batched_nms(boxes, scores, idxs, 0.5, backend="torch"), ref)


def test_ties_keep_index_order():
    boxes = torch.tensor([[0, 0, 10, 10], [50, 50, 60, 60], [0, 0, 10, 10.0]])
    scores = torch.tensor([0.5, 0.5, 0.5])
    assert batched_nms(boxes, scores, torch.tensor([1, 0, 1]), 0.5).tolist() == [0, 1]


@pytest.mark.parametrize("seed", range(3))
def test_cv2_backend_keeps_same_boxes(seed):
    pytest.importorskip("cv2")
    boxes, scores, idxs = random_boxes(300, seed)
    ref = nms_greedy_loop(boxes, scores, idxs, 0.65)
    assert torch.equal(batched_nms(boxes, scores, idxs, 0.65, backend="cv2"), ref)


def test_empty_and_bad_backend():
    empty = torch.zeros(0, 4)
    assert batched_nms(empty, torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5).numel() == 0
    with pytest.raises(ValueError, match="backend"):
        batched_nms(torch.zeros(1, 4), torch.ones(1), torch.zeros(1, dtype=torch.long), 0.5, backend="x")


def test_postprocess_format_conf_and_max_det():
    boxes, _, _ = random_boxes(200, 0)
    g = torch.Generator().manual_seed(1)
    scores = torch.rand(2, 200, 5, generator=g) * 0.1
    pred = torch.cat((boxes[None].expand(2, -1, -1), scores), -1)
    out = postprocess(pred, conf_thres=0.05, iou_thres=0.5, max_det=30)
    assert len(out) == 2
    for det, x in zip(out, pred):
        assert det.shape[1] == 6 and det.shape[0] <= 30
        assert (det[:, 4] > 0.05).all()
        assert torch.all(det[:-1, 4] >= det[1:, 4])  # sorted by score
        # the score is the best class score of its anchor
        s, c = x[:, 4:].max(1)
        row = (x[:, :4][None] == det[:, None, :4]).all(-1).float().argmax(1)
        assert torch.equal(det[:, 5].long(), c[row]) and torch.equal(det[:, 4], s[row])


def test_postprocess_multi_label_and_empty():
    pred = torch.tensor([[[0, 0, 10, 10, 0.9, 0.8], [0, 0, 10, 10, 0.01, 0.02]]])
    single = postprocess(pred)[0]
    multi = postprocess(pred, multi_label=True)[0]
    assert single[:, 5].tolist() == [0.0]
    assert sorted(multi[:, 5].tolist()) == [0.0, 1.0]  # same box, two classes: no suppression
    assert postprocess(pred, agnostic=True, multi_label=True)[0].shape[0] == 1
    assert postprocess(pred, classes=[1])[0].shape[0] == 0
    assert postprocess(torch.zeros(3, 0, 8))[0].shape == (0, 6)


@pytest.mark.parametrize("n", [200, 3500])
def test_auto_backend_equals_greedy_loop(n):
    boxes, scores, idxs = random_boxes(n, 7, classes=20, size=300.0)
    assert torch.equal(batched_nms(boxes, scores, idxs, 0.65), nms_greedy_loop(boxes, scores, idxs, 0.65))
