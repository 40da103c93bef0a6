"""Class-aware non-maximum suppression in pure torch (no torchvision), and detection post-processing.

:func:`batched_nms` gives exactly the greedy result (highest score first; a box is dropped
when its IoU with an already kept box of the same class is > ``iou_thres``) without a
Python loop over boxes:

* boxes are grouped by class (score order kept inside a group) and groups of similar
  size are stacked into a padded ``[G, m, 4]`` batch;
* within a group, keep[i] = not any(keep[j] and IoU(j, i) > thr for j ranked above i).
  That triangular system has one solution, the greedy one; it is found by iterating
  the equation from keep = all until it stops changing (a few matrix-vector products,
  as many as the longest suppression chain, never more than m);
* a very large group is processed in tiles of score-sorted boxes (each tile first
  checked against the boxes kept so far), so memory stays bounded.

``backend="cv2"`` dispatches to ``cv2.dnn.NMSBoxesBatched`` instead (C++, CPU). The default
``"auto"`` uses OpenCV for CPU inputs of at most 3000 candidates (a trained detector's usual
output, where OpenCV's low overhead wins ~3-5x) and the torch path above that (dense outputs,
where OpenCV's all-classes-at-once loop is 1.4-15x slower) and on GPU; both keep the same
boxes as the greedy loop. Numbers: ``python benchmarks/nms.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from detreg.ops.boxes import box_iou

_BATCH_BUDGET = 1 << 22  # max G*m*m elements of one padded IoU batch
_TILE = 1024  # tile size for a group too large to batch

DEFAULT_BACKEND = "auto"
_CV2_MAX = 3000  # "auto": OpenCV below this many CPU candidates (its cost grows ~ n * kept), torch above


def nms_greedy_loop(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_thres: float) -> Tensor:
    """Plain greedy class-aware NMS, one kept box per Python iteration (slow reference)."""
    order = torch.argsort(scores, descending=True, stable=True)
    keep = []
    while order.numel():
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        iou = box_iou(boxes[i][None], boxes[rest])[0]
        suppressed = (iou > iou_thres) & (idxs[rest] == idxs[i])
        order = rest[~suppressed]
    return torch.tensor(keep, dtype=torch.long, device=boxes.device)


def _fixpoint(boxes: Tensor, valid: Tensor, iou_thres: float) -> Tensor:
    """Greedy keep mask for padded, score-sorted groups ``boxes [G,m,4]``, ``valid [G,m]``."""
    m = boxes.shape[1]
    over = (box_iou(boxes, boxes) > iou_thres).triu_(1) & valid[:, :, None]  # [j, i]: j suppresses i
    over_f = over.to(torch.float32)
    keep = valid & ~over.any(1)  # never suppressed by anyone: surely kept
    undecided = valid & ~keep
    if not undecided.any():
        return keep
    keep = valid.clone()
    for _ in range(m + 1):
        sup = torch.bmm(keep.to(torch.float32)[:, None, :], over_f)[:, 0] > 0
        new = valid & ~sup
        if torch.equal(new, keep):
            break
        keep = new
    return keep


def _nms_tiled(boxes: Tensor, iou_thres: float, tile: int = _TILE) -> Tensor:
    """Greedy keep mask for one class of score-sorted ``boxes [m,4]``, tile by tile."""
    m = boxes.shape[0]
    keep = torch.zeros(m, dtype=torch.bool, device=boxes.device)
    kept = boxes[:0]
    for s in range(0, m, tile):
        cur = boxes[s : s + tile]
        alive = torch.ones(cur.shape[0], dtype=torch.bool, device=boxes.device)
        if kept.shape[0]:
            alive = ~(box_iou(cur, kept) > iou_thres).any(1)
        k = _fixpoint(cur[None], alive[None], iou_thres)[0]
        keep[s : s + tile] = k
        kept = torch.cat((kept, cur[k]))
    return keep


def _batched_nms_torch(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_thres: float) -> Tensor:
    n = boxes.shape[0]
    order = torch.argsort(scores, descending=True, stable=True)
    order = order[torch.argsort(idxs[order], stable=True)]  # grouped by class, score order inside
    _, counts = torch.unique_consecutive(idxs[order], return_counts=True)
    starts = counts.cumsum(0) - counts
    sorted_boxes = boxes[order]
    keep_sorted = torch.zeros(n, dtype=torch.bool, device=boxes.device)
    counts_l, starts_l = counts.tolist(), starts.tolist()
    by_size = sorted(range(len(counts_l)), key=counts_l.__getitem__)
    small = [g for g in by_size if counts_l[g] * counts_l[g] <= _BATCH_BUDGET]
    for g in by_size[len(small) :]:  # huge groups: tiles
        s, c = starts_l[g], counts_l[g]
        keep_sorted[s : s + c] = _nms_tiled(sorted_boxes[s : s + c], iou_thres)
    i = 0
    while i < len(small):  # chunks of similar-size groups, padded to the chunk's largest
        j = i + 1
        while j < len(small) and (j + 1 - i) * counts_l[small[j]] ** 2 <= _BATCH_BUDGET:
            j += 1
        groups = small[i:j]
        m = counts_l[groups[-1]]
        g_start = torch.tensor([starts_l[g] for g in groups], device=boxes.device)
        g_count = torch.tensor([counts_l[g] for g in groups], device=boxes.device)
        ar = torch.arange(m, device=boxes.device)
        valid = ar[None] < g_count[:, None]
        idx = (g_start[:, None] + ar[None]).clamp(max=n - 1)
        keep = _fixpoint(sorted_boxes[idx], valid, iou_thres)
        keep_sorted[idx[keep]] = True
        i = j
    kept = order[keep_sorted].sort().values  # index order, so equal scores tie-break like the loop
    return kept[torch.argsort(scores[kept], descending=True, stable=True)]


def _has_cv2() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


def _batched_nms_cv2(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_thres: float) -> Tensor:
    import cv2
    import numpy as np

    b = boxes.detach().to("cpu", torch.float64).numpy()
    xywh = np.concatenate((b[:, :2], b[:, 2:] - b[:, :2]), 1)
    s = scores.detach().to("cpu", torch.float32).numpy()
    c = idxs.detach().to("cpu", torch.int32).numpy()
    keep = cv2.dnn.NMSBoxesBatched(xywh, s, c, -1.0, float(iou_thres))
    return torch.as_tensor(np.asarray(keep, dtype=np.int64).reshape(-1), device=boxes.device)


def batched_nms(
    boxes: Tensor, scores: Tensor, idxs: Tensor, iou_thres: float, backend: str | None = None
) -> Tensor:
    """Class-aware greedy NMS: indices of kept ``boxes [n,4]`` (xyxy), highest score first.

    ``idxs [n]`` are class ids (boxes of different classes never suppress each other).
    ``backend``: ``"torch"`` (pure torch, exact greedy), ``"cv2"`` (OpenCV's C++ NMS),
    ``"loop"`` (slow reference), ``"auto"`` (cv2 for small CPU inputs, else torch) or ``None``
    for :data:`DEFAULT_BACKEND` (``"auto"``).
    """
    backend = backend or DEFAULT_BACKEND
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    if backend == "auto":
        backend = (
            "cv2" if boxes.device.type == "cpu" and boxes.shape[0] <= _CV2_MAX and _has_cv2() else "torch"
        )
    if backend == "torch":
        return _batched_nms_torch(boxes, scores, idxs, iou_thres)
    if backend == "cv2":
        return _batched_nms_cv2(boxes, scores, idxs, iou_thres)
    if backend == "loop":
        return nms_greedy_loop(boxes, scores, idxs, iou_thres)
    raise ValueError(f"unknown NMS backend {backend!r}; use 'auto', 'torch', 'cv2' or 'loop'")


def nms(boxes: Tensor, scores: Tensor, iou_thres: float, backend: str | None = None) -> Tensor:
    """Greedy NMS over all boxes as one class: kept indices, highest score first."""
    idxs = torch.zeros(boxes.shape[0], dtype=torch.long, device=boxes.device)
    return batched_nms(boxes, scores, idxs, iou_thres, backend)


def nms_candidates(
    x: Tensor,
    conf_thres: float = 0.03,
    multi_label: bool = False,
    classes: list[int] | None = None,
    max_nms: int = 30000,
) -> tuple[Tensor, Tensor, Tensor]:
    """The ``(boxes, scores, classes)`` of one image's ``[A, 4+nc]`` predictions that go into NMS.

    A candidate needs score > ``conf_thres`` (the best class of each anchor, or every class
    above it with ``multi_label``), optionally one of ``classes``; at most ``max_nms`` of the
    highest-scoring ones are kept.
    """
    boxes, scores = x[:, :4], x[:, 4:]
    if multi_label:
        i, j = (scores > conf_thres).nonzero(as_tuple=True)
        b, s, c = boxes[i], scores[i, j], j
    else:
        s, c = scores.max(1)
        m = s > conf_thres
        b, s, c = boxes[m], s[m], c[m]
    if classes is not None:
        m = (c[:, None] == torch.as_tensor(classes, device=c.device)).any(1)
        b, s, c = b[m], s[m], c[m]
    if s.numel() > max_nms:
        top = s.topk(max_nms).indices
        b, s, c = b[top], s[top], c[top]
    return b, s, c


@torch.no_grad()
def postprocess(
    pred: Tensor,
    conf_thres: float = 0.03,
    iou_thres: float = 0.65,
    max_det: int = 300,
    multi_label: bool = False,
    classes: list[int] | None = None,
    agnostic: bool = False,
    max_nms: int = 30000,
    backend: str | None = None,
) -> list[Tensor]:
    """Per-image detections ``[n,6]`` = (x1, y1, x2, y2, score, cls) from ``pred [B,A,4+nc]``.

    ``pred`` holds xyxy boxes and class scores after sigmoid. A candidate needs score
    > ``conf_thres``: the best class of each anchor, or every class above it with
    ``multi_label``. At most ``max_nms`` top-scoring candidates go into class-aware NMS
    (class-agnostic with ``agnostic``); at most ``max_det`` survive, highest score first.
    """
    if pred.ndim != 3 or pred.shape[-1] < 5:
        raise ValueError(f"postprocess expects pred [B, A, 4 + num_classes], got {tuple(pred.shape)}")
    out = []
    for x in pred:
        b, s, c = nms_candidates(x, conf_thres, multi_label, classes, max_nms)
        keep = batched_nms(b, s, torch.zeros_like(c) if agnostic else c, iou_thres, backend)[:max_det]
        out.append(torch.cat((b[keep], s[keep, None], c[keep, None].to(b.dtype)), 1))
    return out
