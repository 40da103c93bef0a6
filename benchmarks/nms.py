"""Benchmark class-aware NMS back-ends on a YOLO-sized output (8400 candidates x 80 classes).

Usage::

    python benchmarks/nms.py [--anchors 8400] [--classes 80] [--repeat 5] [--threads 2]

Compares detreg's pure-torch exact greedy NMS, ``cv2.dnn.NMSBoxesBatched`` and a plain
greedy Python loop, on the whole ``postprocess`` (conf 0.03, IoU 0.65, max_det 300) and on
NMS alone, for single-label and multi-label candidate selection; checks that every
back-end keeps the same boxes as the loop.
"""

from __future__ import annotations

import argparse
import functools
import time

import torch
from torch import Tensor

from detreg.ops.nms import batched_nms, nms_candidates, postprocess


def fake_pred(
    anchors: int, classes: int, seed: int, layout: str = "clustered", size: float = 640.0
) -> Tensor:
    """A ``[1, A, 4+nc]`` prediction.

    ``clustered``: boxes jittered around 50 objects, uniform scores (every anchor passes
    conf 0.03); ``uniform``: boxes anywhere; ``sparse``: clustered boxes, and only the
    anchors near an object score above 0.03 (a trained detector's output, ~1-2k candidates).
    """
    g = torch.Generator().manual_seed(seed)
    if layout != "uniform":  # many overlapping boxes around 50 objects, like a real detector
        centres = torch.rand(50, 2, generator=g) * size
        pick = torch.randint(0, 50, (anchors,), generator=g)
        cxy = centres[pick] + torch.randn(anchors, 2, generator=g) * 8
        wh = 20 + torch.rand(anchors, 2, generator=g) * 100
    else:
        cxy = torch.rand(anchors, 2, generator=g) * size
        wh = 4 + torch.rand(anchors, 2, generator=g) * 120
    boxes = torch.cat((cxy - wh / 2, cxy + wh / 2), 1)
    scores = torch.rand(anchors, classes, generator=g)
    if layout == "sparse":
        obj_cls = torch.randint(0, classes, (50,), generator=g)[pick]
        near = torch.rand(anchors, generator=g) < 0.15
        scores = scores * 0.03
        scores[near, obj_cls[near]] = 0.05 + 0.95 * torch.rand(int(near.sum()), generator=g)
    return torch.cat((boxes, scores), 1)[None]


def timeit(fn, repeat: int) -> float:
    """Best-of-``repeat`` wall time of ``fn()`` in milliseconds (after one warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def bench_case(pred: Tensor, multi: bool, repeat: int) -> dict[str, float]:
    """Time every back-end on one prediction; print one line each; return NMS ms by back-end."""
    b, s, c = nms_candidates(pred[0], multi_label=multi)
    t0 = time.perf_counter()
    ref = batched_nms(b, s, c, 0.65, backend="loop")  # the loop is slow: timed once, this run
    row = {"loop": (time.perf_counter() - t0) * 1e3}
    for backend in ("torch", "cv2"):
        keep = batched_nms(b, s, c, 0.65, backend=backend)
        t_nms = timeit(functools.partial(batched_nms, b, s, c, 0.65, backend=backend), repeat)
        t_pp = timeit(functools.partial(postprocess, pred, multi_label=multi, backend=backend), repeat)
        row[backend] = t_nms
        print(
            f"  multi_label={multi!s:5s} candidates={b.shape[0]:6d} kept={keep.numel():5d} {backend:5s} "
            f"nms {t_nms:9.2f} ms  postprocess {t_pp:9.2f} ms  same as loop: "
            f"order={torch.equal(keep, ref)} set={set(keep.tolist()) == set(ref.tolist())}"
        )
    print(f"  multi_label={multi!s:5s} loop  nms {row['loop']:9.2f} ms (once)")
    print(f"  -> loop/torch {row['loop'] / row['torch']:.1f}x, cv2/torch {row['cv2'] / row['torch']:.2f}x")
    return row


def main() -> None:
    """Run the comparison and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--anchors", type=int, default=8400)
    ap.add_argument("--classes", type=int, default=80)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--multi-label", action="store_true", help="also time multi-label (30000 candidates)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, best of {args.repeat}")
    for layout in ("clustered", "uniform", "sparse"):
        print(f"{layout}: {args.anchors} anchors x {args.classes} classes")
        pred = fake_pred(args.anchors, args.classes, args.seed, layout)
        for multi in (False, True) if args.multi_label else (False,):
            bench_case(pred, multi, 1 if multi else args.repeat)


if __name__ == "__main__":
    main()
