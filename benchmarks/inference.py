"""Inference latency of YOLOv6-N (fused): PyTorch vs ONNX Runtime, with peak memory.

    python benchmarks/inference.py [--sizes 320 640] [--batches 1 16] [--min-time 2] [--nc 80]

Builds YOLOv6-N from ``configs/yolov6n.yaml`` (random weights; latency does not depend on
them), fuses it, exports it once per image size with a dynamic batch axis (the
``detreg-export`` path, no NMS: ``[B, A, 4 + nc]`` out) and times, in this one process,
``model(images)`` under ``torch.inference_mode`` and ``session.run`` on the CPU execution
provider, at each batch size: the median of repeated runs after one warm-up run (at
least 3 runs and ``--min-time`` seconds). ``ORT/PT`` is ONNX Runtime's latency over
PyTorch's (< 1: ORT faster). ``peak RSS`` is ``resource.getrusage(RUSAGE_SELF).ru_maxrss``
just after each figure: the process's high-water mark so far (it never goes down, so a
figure shows what that run needed only when it raised the mark).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def median_latency(fn: Callable[[], object], min_time: float, min_runs: int = 3) -> float:
    """Median seconds per call of ``fn`` (one warm-up call, then >= ``min_runs`` calls and ``min_time`` s)."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_time:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def build_model(nc: int):
    """YOLOv6-N from ``configs/yolov6n.yaml``, eval mode, fused."""
    from detreg.launch import prepare_config
    from detreg.registry import MODELS

    cfg = prepare_config("yolov6n", validate=False)
    model = MODELS.build(cfg.data["model"], "model", {"num_classes": nc})
    return model.eval().fuse()


def main(argv: list[str] | None = None) -> int:
    """Print the latency table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[320, 640])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    p.add_argument("--min-time", type=float, default=2.0, help="seconds of timed runs per figure")
    p.add_argument("--nc", type=int, default=80)
    args = p.parse_args(argv)

    import torch

    from detreg.apps.export import export_onnx, ort_session

    torch.manual_seed(0)
    model = build_model(args.nc)
    print(
        f"YOLOv6-N fused, nc={args.nc}; torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"onnxruntime {__import__('onnxruntime').__version__} (CPU EP, default threads); "
        f"median latency; peak RSS = process high-water mark after the figure"
    )
    print(
        f"{'size':>5} {'batch':>5} | {'PyTorch ms':>10} {'peak RSS':>9} | {'ORT ms':>8} {'peak RSS':>9} | "
        f"{'ORT/PT':>6} | {'PT img/s':>8} {'ORT img/s':>9}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path, _ = export_onnx(model, Path(tmp) / f"n{size}.onnx", (size, size), batch=1, dynamic=True)
            session = ort_session(path)
            for b in args.batches:
                x = torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(b))
                xn = x.numpy()

                def run_pt(x=x) -> object:
                    with torch.inference_mode():
                        return model(x)

                pt = median_latency(run_pt, args.min_time)
                pt_rss = peak_rss_mb()
                ort = median_latency(lambda xn=xn, s=session: s.run(None, {"images": xn}), args.min_time)
                ort_rss = peak_rss_mb()
                print(
                    f"{size:>5} {b:>5} | {pt * 1e3:>10.1f} {pt_rss:>6.0f} MB | {ort * 1e3:>8.1f} "
                    f"{ort_rss:>6.0f} MB | {ort / pt:>6.2f} | {b / pt:>8.1f} {b / ort:>9.1f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
