"""What the runner and its hooks cost per step, against a bare training loop.

    python benchmarks/runner_overhead.py [--img-size 128] [--batch-size 8] [--epochs 3]
        [--steps 8] [--repeats 3] [--threads 1]

YOLOv6-N (``configs/yolov6n.yaml``) trains on the same pre-collated batches (held in
memory, so data loading is excluded) three ways, alternated ``--repeats`` times:

- ``bare``: ``loss = model(images, targets)["loss"]; backward; optimizer.step; zero_grad``;
- ``bare+ema``: the same plus ``ModelEMA.update`` after each step (EMA is real work);
- ``runner``: :class:`detreg.engine.runner.Runner` with the YOLOv6 hook set: warmup, lr
  schedule, EMA, stop-aug, ``last.pt`` every epoch, the writers (no progress bar, TensorBoard
  on), no evaluation.

Each figure is seconds per step over all epochs but the first (the first warms up the
allocator and writes the first files), the median over repeats. Printed: the medians and
the ratios ``runner / bare`` (everything the runner adds, EMA included),
``bare+ema / bare`` (the EMA alone) and ``runner / bare+ema`` (the runner and the other
hooks). Accumulation is 1 (nominal batch = batch size), so the three do the same steps.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from detreg.data.synth import make_synth_dataset
from detreg.engine import Hook
from detreg.engine.runner import Runner
from detreg.launch import CONFIG_DIR, prepare_config
from detreg.optim.ema import ModelEMA
from detreg.registry import MODELS, OPTIMIZERS


class MemoryLoader:
    """A fixed list of batches with the loader interface the runner and hooks use."""

    def __init__(self, batches: list[dict[str, Any]], dataset: Any, batch_size: int) -> None:
        self.batches, self.dataset, self.batch_size = batches, dataset, batch_size

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    def set_epoch(self, epoch: int) -> None:
        pass

    def disable_transforms(self, names: Any) -> None:
        pass


class Clock(Hook):
    """Times the epochs after the first one (priority 0 and 100 around the other hooks)."""

    priority = 0

    def __init__(self) -> None:
        self.start: float | None = None
        self.steps = 0
        self.elapsed = 0.0

    def before_epoch(self, runner: Any) -> None:
        if runner.epoch == runner.start_epoch + 1:
            self.start = time.perf_counter()

    def after_step(self, runner: Any) -> None:
        if self.start is not None:
            self.steps += 1


class ClockEnd(Hook):
    """Stops :class:`Clock` once everything of the last epoch (saving, logging) is done.

    The end-of-training work (final plots) happens once per run, so it is not counted.
    """

    priority = 100

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def after_epoch(self, runner: Any) -> None:
        if runner.epoch == runner.max_epochs - 1:
            self.clock.elapsed = time.perf_counter() - self.clock.start


def overrides(data: Path, work_dir: Path, args: argparse.Namespace) -> list[str]:
    return [
        f"data.source={data}",
        f"work_dir={work_dir}",
        f"train.img_size={args.img_size}",
        f"train.batch_size={args.batch_size}",
        f"train.epochs={args.epochs}",
        "train.workers=0",
        "train.amp=false",
        "data.train.transforms=[{type: Letterbox}]",
        f"train.nominal_batch_size={args.batch_size}",
        "train.warmup_epochs=0",
        "hooks.warmup.min_warmup_iters=4",
        "hooks.warmup.max_fraction=1.0",
        "hooks.stop_aug.stop_aug_epochs=1",
        "hooks.eval=null",
        "hooks.best=null",
        "hooks.progress.bar=false",
    ]


def collect_batches(cfg: Any, n: int) -> list[dict[str, Any]]:
    runner = Runner(cfg)
    runner._build_data()
    batches: list[dict[str, Any]] = []
    while len(batches) < n:
        batches.extend(runner.train_loader)
    return batches[:n]


def time_runner(cfg: Any, batches: list[dict[str, Any]]) -> float:
    class MemoryRunner(Runner):
        def _build_data(self) -> None:
            super()._build_data()
            self.train_loader = MemoryLoader(batches, self.train_loader.dataset, len(batches[0]["paths"]))
            self.context["iters_per_epoch"] = len(batches)

    runner = MemoryRunner(cfg)
    clock = Clock()
    # the clocks are not config hooks (they must not reach checkpoints): fire them directly
    for event in ("before_epoch", "after_step"):
        runner._event_hooks[event].insert(0, ("clock", clock))
    runner._event_hooks["after_epoch"].append(("clock_end", ClockEnd(clock)))
    runner.train()
    return clock.elapsed / clock.steps


def time_bare(cfg: Any, batches: list[dict[str, Any]], epochs: int, ema: bool) -> float:
    torch.manual_seed(int(cfg.data["train"].get("seed", 0)))
    context = {
        "num_classes": 6,
        "img_size": cfg.data["train"]["img_size"],
        "batch_size": len(batches[0]["paths"]),
    }
    model = MODELS.build(cfg.data["model"], "model", context)
    opt = OPTIMIZERS.build(cfg.data["optimizer"], "optimizer", context, model=model)
    avg = ModelEMA(model) if ema else None
    model.train()
    start, steps = 0.0, 0
    for epoch in range(epochs):
        if epoch == 1:
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        for batch in batches:
            images = batch["img"].float().div_(255.0)
            loss = model(images, batch["targets"], epoch=epoch)["loss"]
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if avg is not None:
                avg.update(model)
            float(loss.detach())  # the runner's step reads the loss values too
            steps += epoch >= 1
    return (time.perf_counter() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--img-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=3, help="timed: all but the first")
    ap.add_argument("--steps", type=int, default=8, help="steps per epoch")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = make_synth_dataset(
            tmp / "data", n_train=args.steps * args.batch_size, n_val=1, size=args.img_size, seed=0
        )
        cfg = prepare_config(CONFIG_DIR / "yolov6n.yaml", overrides(data, tmp / "run0", args))
        batches = collect_batches(cfg, args.steps)
        times: dict[str, list[float]] = {"bare": [], "bare+ema": [], "runner": []}
        for r in range(args.repeats):
            times["bare"].append(time_bare(cfg, batches, args.epochs, ema=False))
            times["bare+ema"].append(time_bare(cfg, batches, args.epochs, ema=True))
            run_cfg = prepare_config(CONFIG_DIR / "yolov6n.yaml", overrides(data, tmp / f"run{r + 1}", args))
            times["runner"].append(time_runner(run_cfg, batches))
            print(
                f"repeat {r + 1}: " + "  ".join(f"{k} {v[-1] * 1e3:.1f} ms" for k, v in times.items()),
                flush=True,
            )
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"\nYOLOv6-N {args.img_size}px batch {args.batch_size}, {args.steps} steps x {args.epochs - 1} timed "
        f"epochs, {torch.get_num_threads()} thread(s), median of {args.repeats}"
    )
    for k, v in med.items():
        print(f"  {k:9s} {v * 1e3:8.1f} ms/step")
    print(
        f"  runner / bare       {med['runner'] / med['bare']:.3f}  (everything the runner adds, EMA included)"
    )
    print(f"  bare+ema / bare     {med['bare+ema'] / med['bare']:.3f}  (the EMA update alone)")
    print(f"  runner / bare+ema   {med['runner'] / med['bare+ema']:.3f}  (runner + the other hooks)")


if __name__ == "__main__":
    main()
