"""Time COCO bbox evaluation: pycocotools vs faster-coco-eval, in one process.

    python benchmarks/eval_speed.py [--images 500 --classes 80 --gt 20 --dets 100 --repeat 3]

Generates a random set (``detreg.evaluation.backends.synthetic_case``), runs the same
evaluation through both backends (COCO index building + evaluate + accumulate, i.e. what
``COCOEvaluator.evaluate`` pays), checks they agree, and prints the best-of-``repeat``
wall time and the ratio against pycocotools.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

from detreg.evaluation.backends import evaluate_bbox, max_abs_diff, synthetic_case
from detreg.evaluation.metrics import summarize


def _time(backend: str, case: tuple, repeat: int):
    gt, dets, img_ids, cat_ids = case
    best, arrays = float("inf"), None
    for _ in range(repeat):
        g = {**gt, "annotations": [dict(a) for a in gt["annotations"]]}
        d = [dict(x) for x in dets]
        t0 = time.perf_counter()
        arrays = evaluate_bbox(g, d, img_ids, cat_ids, backend)
        best = min(best, time.perf_counter() - t0)
    return best, arrays


def main() -> None:
    """Parse arguments, run both backends, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--classes", type=int, default=80)
    ap.add_argument("--gt", type=int, default=20, help="mean gt boxes per image")
    ap.add_argument("--dets", type=int, default=100, help="detections per image")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    case = synthetic_case(args.images, args.classes, args.gt, args.dets, seed=args.seed)
    print(
        f"{args.images} images, {args.classes} classes, {len(case[0]['annotations'])} gt boxes, "
        f"{len(case[1])} detections; best of {args.repeat}"
    )
    backends = ["pycocotools"]
    if importlib.util.find_spec("faster_coco_eval") is not None:
        backends.append("faster_coco_eval")
    else:
        print("faster-coco-eval is not installed; timing pycocotools only")
    times, arrays = {}, {}
    for b in backends:
        times[b], arrays[b] = _time(b, case, args.repeat)
    ref = times["pycocotools"]
    print(f"{'backend':<18}{'seconds':>10}{'vs pycocotools':>16}{'mAP50_95':>10}")
    for b in backends:
        print(f"{b:<18}{times[b]:>10.3f}{ref / times[b]:>15.2f}x{summarize(arrays[b])['mAP50_95']:>10.4f}")
    if len(backends) == 2:
        print(f"max |difference| of precision/recall arrays: {max_abs_diff(*arrays.values()):.2e}")


if __name__ == "__main__":
    main()
