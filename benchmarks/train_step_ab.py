"""A/B of one training-step change in one process: A and B interleaved, median CPU-time ratio.

    python benchmarks/train_step_ab.py --ab channels_last [--mode fp32] [--size 320] [--reps 3]
        [--steps 2] [--threads 1]
    python benchmarks/train_step_ab.py --ab sgd_foreach --mode fp32-repopt

The bare step of ``train_speed.py`` (forward with loss and assigner, backward, optimizer step
on batches already in memory) of YOLOv6-N in one of its modes (``fp32``, ``bf16``,
``fp32-repopt``, ``bf16-repopt``), batch 16, built once. Each repeat runs ``--steps`` steps of
A, then of B (one untimed step after each switch), and records CPU time per step of this
process, the steadier figure on a shared machine; the result is the median over repeats of
A/B (above 1: B is faster), with each repeat's ratio.

Changes (A -> B):

- ``channels_last``: the model's weights in the default layout -> ``channels_last``
  (``train.channels_last: true``, :class:`detreg.hooks.channels_last.ChannelsLastHook`);
  the images stay NCHW, as the train step gives them.
- ``sgd_foreach``: the optimizer's per-tensor loop (the CPU default) -> ``foreach=True``
  (grouped ``torch._foreach_*`` calls); the whole step is timed, and the optimizer step alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_speed as ts  # noqa: E402  (the same runner setup and bare step)

CHANGES = ("channels_last", "sgd_foreach")


def switch(runner: Any, change: str, on: bool) -> None:
    """Put ``change`` on (B) or off (A) in the built runner."""
    if change == "channels_last":
        layout = torch.channels_last if on else torch.contiguous_format
        runner.unwrapped_model.to(memory_format=layout)
    else:
        for group in runner.optimizer.param_groups:
            group["foreach"] = on


def main(argv: list[str] | None = None) -> int:
    """Run the A/B and print the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ab", required=True, choices=CHANGES)
    ap.add_argument("--mode", default="fp32", choices=["fp32", "bf16", "fp32-repopt", "bf16-repopt"])
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2, help="timed steps per variant per repeat")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    run_args = argparse.Namespace(workers=0, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = ts.make_data(root / "data", 4 * ts.BATCH, args.size)
        scales = ts.make_scales("yolov6n", root / "scales.pt")
        overrides = ts.overrides_for(args.mode, run_args, args.size, scales)
        runner = ts.build_runner(ts.REPO / "configs" / "yolov6n.yaml", overrides, data, root / "work")
        it = iter(runner.train_loader)
        batches = [next(it) for _ in range(4)]
        step = ts.bare_step_fn(runner, 1)
        per_step: dict[bool, list[float]] = {False: [], True: []}
        opt_time: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.reps):
            for on in (False, True):
                switch(runner, args.ab, on)
                step(0, batches[0])  # untimed: the first step after a switch
                c0 = time.process_time()
                for i in range(args.steps):
                    step(i, batches[(i + 1) % len(batches)])
                per_step[on].append((time.process_time() - c0) / args.steps)
                if args.ab == "sgd_foreach":
                    step_opt_only(runner, opt_time[on])
    a, b = statistics.median(per_step[False]), statistics.median(per_step[True])
    ratios = [x / y for x, y in zip(per_step[False], per_step[True])]
    print(
        f"{args.ab}, YOLOv6-N {args.mode} at {args.size} px, batch {ts.BATCH}, {args.threads} thread(s): "
        f"A {a:.3f}s, B {b:.3f}s CPU per step; A/B {statistics.median(ratios):.3f} "
        f"(repeats: {', '.join(f'{r:.3f}' for r in ratios)})"
    )
    if opt_time[False]:
        oa, ob = statistics.median(opt_time[False]), statistics.median(opt_time[True])
        print(f"optimizer step alone: A {oa * 1000:.1f} ms, B {ob * 1000:.1f} ms; A/B {oa / ob:.3f}")
    return 0


def step_opt_only(runner: Any, out: list[float]) -> None:
    """Time one optimizer step alone (on fresh gradients of ones, scaled small)."""
    for p in runner.unwrapped_model.parameters():
        if p.requires_grad:
            p.grad = torch.full_like(p, 1e-6)
    c0 = time.process_time()
    runner.optimizer.step()
    out.append(time.process_time() - c0)
    runner.optimizer.zero_grad(set_to_none=True)


if __name__ == "__main__":
    raise SystemExit(main())
