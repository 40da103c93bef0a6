"""End-to-end training throughput of YOLOv6-N on the CPU, next to Ultralytics' figures.

    python benchmarks/train_speed.py [--steps 20] [--warmup 4] [--threads 2] [--workers 0]
        [--modes fp32,bf16,fp32-convrelu,bf16-convrelu] [--repeats 1] [--json out.json]
        [--models yolov6n,yolov6s] [--sizes 320,640] [--device cpu|cuda]

Trains ``configs/yolov6n.yaml`` from scratch through the real runner
(``detreg.launch.prepare_config`` + ``detreg.engine.runner.Runner``) on the built-in
synthetic data (320-px images, generated into a temp dir) at 320 px, batch 16, with the
YOLOv6 hook set (warmup, lr, EMA, stop-aug, checkpoint, writers without progress bar or TensorBoard;
evaluation off). Mosaic stays on (stop-aug window 0: the regime of 285 of YOLOv6's 300
epochs). A small timing hook (``TimingHook`` below, passed by dotted path)
timestamps ``after_step``; images/s is measured over the steps after ``--warmup``,
so data loading, loss, assignment, optimizer, EMA and hooks are all inside the number.

Modes (``train.amp`` picks the autocast dtype through :class:`detreg.engine.step.TrainStep`):

- ``fp32``: the YOLOv6-N training structure (multi-branch RepVGG blocks), exact fp32.
- ``bf16``: the same model, ``train.amp: true`` = bf16 autocast on CPUs that support it.
- ``fp32-convrelu`` / ``bf16-convrelu``: ``block: conv_relu``, the single-branch
  (deployed-RepVGG) structure that Ultralytics' ``yolov6n.yaml`` trains. A different
  training structure (not YOLOv6's RepVGG recipe), labelled as such.

Peak memory is reported next to every figure: the process's peak RSS during that run
(the kernel's high-water mark, reset before each run), and CUDA max allocated on a GPU.
The peers' figures apply to YOLOv6-N at 320 px, batch 16.

A "model-only" line times forward+backward of the same model on a random batch (no data,
no loss, no optimizer) in this process, the in-process baseline the ratios refer to.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from detreg.engine.hook import Hook

REPO = Path(__file__).resolve().parents[1]
BATCH = 16
# Ultralytics 8.4 on this kind of machine (CPU, from scratch, 320 px, batch 16): images/s.
PEERS = {
    2: {"ultralytics yolov8n": 33.0, "ultralytics yolov6n": 31.0},
    1: {"ultralytics yolov8n": 20.0, "ultralytics yolov6n": 16.5},
}
MODES: dict[str, dict[str, Any]] = {
    "fp32": {"amp": False, "block": "repvgg", "label": "YOLOv6-N RepVGG train-structure, fp32"},
    "bf16": {"amp": True, "block": "repvgg", "label": "YOLOv6-N RepVGG train-structure, bf16 autocast"},
    "fp32-convrelu": {
        "amp": False,
        "block": "conv_relu",
        "label": "YOLOv6-N conv_relu (deploy shape, as Ultralytics trains), fp32",
    },
    "bf16-convrelu": {
        "amp": True,
        "block": "conv_relu",
        "label": "YOLOv6-N conv_relu (deploy shape, as Ultralytics trains), bf16",
    },
}


class TimingHook(Hook):
    """Records ``time.perf_counter()`` at every ``after_step`` (and the run's step count)."""

    priority = 99
    stamps: list[float] = []
    info: dict[str, Any] = {}

    def before_train(self, runner: Any) -> None:
        """Reset the class-level record (one run per process at a time)."""
        TimingHook.stamps = []
        TimingHook.info = {"autocast": dict(runner.train_step._autocast)}

    def after_step(self, runner: Any) -> None:
        """Timestamp the end of a step."""
        TimingHook.stamps.append(time.perf_counter())


def make_data(root: Path, n_train: int, size: int) -> Path:
    """The synthetic data yaml (``size``-px images) under ``root``."""
    from detreg.data.synth import make_synth_dataset

    return make_synth_dataset(root, n_train=n_train, n_val=8, size=size, seed=0)


def reset_peak_memory(device: str) -> None:
    """Reset the peak-RSS high-water mark (Linux) and CUDA's max-allocated counter."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # not Linux, or not allowed: the peak then covers the process so far
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def peak_memory(device: str) -> dict[str, float]:
    """``{"rss_mb": peak RSS, "cuda_mb": CUDA max allocated}`` since the last reset."""
    out: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["rss_mb"] = int(line.split()[1]) / 1024
    except OSError:
        import resource

        out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.startswith("cuda"):
        out["cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def run_training(
    data_yaml: Path,
    work: Path,
    mode: str,
    steps: int,
    warmup: int,
    workers: int,
    model: str,
    size: int,
    device: str,
) -> dict:
    """Train one epoch of ``warmup + steps`` batches; images/s over the last ``steps``."""
    from detreg.engine.runner import Runner
    from detreg.launch import prepare_config

    spec = MODES[mode]
    hook_type = f"{__name__}.TimingHook"  # '__main__.TimingHook' when run as a script
    overrides = [
        f"train.img_size={size}",
        f"train.batch_size={BATCH}",
        "train.epochs=1",
        f"train.workers={workers}",
        f"train.amp={str(spec['amp']).lower()}",
        f"train.device={device}",
        f"model.backbone.block={spec['block']}",
        f"model.neck.block={spec['block']}",
        "train.stop_aug_epochs=0",  # mosaic on, as in all but the last 15 of 300 epochs
        "hooks.eval=null",
        "hooks.best=null",
        "hooks.progress.bar=false",
        "hooks.tensorboard=null",
        f"hooks.timing={{type: {hook_type}}}",
    ]
    cfg = prepare_config(REPO / "configs" / f"{model}.yaml", overrides, data=data_yaml)
    runner = Runner(cfg, work_dir=work)
    reset_peak_memory(device)
    runner.train()
    memory = peak_memory(device)
    stamps = TimingHook.stamps
    if len(stamps) < warmup + 2:
        raise RuntimeError(f"only {len(stamps)} steps ran")
    per_step = [b - a for a, b in zip(stamps[warmup - 1 : -1], stamps[warmup:])]
    return {
        "img_s": BATCH * len(per_step) / (stamps[-1] - stamps[warmup - 1]),
        "step_s_median": statistics.median(per_step),
        "autocast": str(TimingHook.info.get("autocast")),
        "loss": runner.outputs.get("loss"),
        **memory,
    }


def model_only(
    block: str, amp: bool, steps: int, warmup: int, model_name: str, size: int, device: str
) -> float:
    """Images/s of forward+backward of the model on a random batch (no data, loss, optimizer)."""
    from detreg.launch import prepare_config
    from detreg.registry import MODELS

    cfg = prepare_config(
        REPO / "configs" / f"{model_name}.yaml",
        [f"model.backbone.block={block}", f"model.neck.block={block}"],
        validate=False,
    )
    model = MODELS.build(cfg.data["model"], "model", {"num_classes": 6, "img_size": size}).train().to(device)
    x = torch.rand(BATCH, 3, size, size, device=device)
    dev_type = torch.device(device).type
    dtype = torch.bfloat16 if dev_type == "cpu" else torch.float16
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        with torch.autocast(dev_type, dtype=dtype, enabled=amp):
            out = model.head(model.neck(model.backbone(x)))
        (out["cls"].float().sum() + out["reg"].float().sum()).backward()
        model.zero_grad(set_to_none=True)
        if dev_type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return BATCH / statistics.median(times)


def measure(args: argparse.Namespace, data_yaml: Path, work: Path, mode: str, model: str, size: int) -> dict:
    """Median end-to-end and model-only images/s of ``model`` at ``size`` in ``mode``."""
    spec = MODES[mode]
    runs, base = [], []
    for r in range(args.repeats):
        runs.append(
            run_training(
                data_yaml,
                work / str(r),
                mode,
                args.steps,
                args.warmup,
                args.workers,
                model,
                size,
                args.device,
            )
        )
        base.append(model_only(spec["block"], spec["amp"], args.model_steps, 3, model, size, args.device))
        print(
            f"  {model}@{size} {mode} run {r + 1}: {runs[-1]['img_s']:.1f} img/s end-to-end, "
            f"model-only {base[-1]:.1f} img/s ({runs[-1]['autocast']})",
            file=sys.stderr,
        )
    e2e = statistics.median(x["img_s"] for x in runs)
    mo = statistics.median(base)
    return {
        "label": spec["label"],
        "img_s": e2e,
        "model_only_img_s": mo,
        "ratio_to_model_only": e2e / mo,
        "rss_mb": max(x["rss_mb"] for x in runs),
        **({"cuda_mb": max(x["cuda_mb"] for x in runs)} if "cuda_mb" in runs[0] else {}),
        "runs": runs,
        "model_only_runs": base,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20, help="timed steps per run")
    ap.add_argument("--warmup", type=int, default=4, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=2, choices=(1, 2))
    ap.add_argument("--workers", type=int, default=0, help="data loader workers (0 is fastest on 2 cores)")
    ap.add_argument("--modes", default="fp32,bf16,fp32-convrelu,bf16-convrelu")
    ap.add_argument("--repeats", type=int, default=1, help="runs per mode (median reported)")
    ap.add_argument("--model-steps", type=int, default=6, help="timed steps of the model-only line")
    ap.add_argument("--models", default="yolov6n", help="configs to train, e.g. yolov6n,yolov6s")
    ap.add_argument("--sizes", default="320", help="image sizes, e.g. 320,640")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (AMP = fp16 autocast there)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        ap.error(f"unknown modes {unknown}; choose from {list(MODES)}")
    torch.set_num_threads(args.threads)
    logging.getLogger("detreg").setLevel(logging.WARNING)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    results: dict[str, Any] = {
        "threads": args.threads,
        "workers": args.workers,
        "batch": BATCH,
        "device": args.device,
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "runs": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            data_yaml = make_data(Path(tmp) / f"data{size}", BATCH * (args.warmup + args.steps), size)
            for model in models:
                for mode in modes:
                    key = f"{model}@{size}/{mode}"
                    results["runs"][key] = measure(
                        args, data_yaml, Path(tmp) / key.replace("/", "_"), mode, model, size
                    )
    peers = PEERS[args.threads]
    v6n = peers["ultralytics yolov6n"]
    print(
        f"\nTraining throughput, {args.device}, {args.threads} thread(s), batch {BATCH}, "
        f"{args.workers} workers, median of {args.repeats}"
    )
    print(f"{'what':<76} {'img/s':>7} {'model-only':>10} {'e2e/model':>9} {'peak RSS':>9} {'vs v6n':>7}")
    for key, r in results["runs"].items():
        vs = f"{r['img_s'] / v6n:7.2f}" if key.startswith("yolov6n@320/") else f"{'':>7}"
        mem = f"{r['rss_mb']:7.0f}MB" + (f" cuda {r['cuda_mb']:.0f}MB" if "cuda_mb" in r else "")
        label = f"{key.split('/')[0]} {r['label'].removeprefix('YOLOv6-N ')}"
        print(
            f"{label:<76} {r['img_s']:7.1f} {r['model_only_img_s']:10.1f} "
            f"{r['ratio_to_model_only']:9.2f} {mem:>9} {vs}"
        )
    for name, v in peers.items():
        print(
            f"{name + ' @320 (peer, measured separately)':<76} {v:7.1f} "
            f"{'':>10} {'':>9} {'':>9} {v / v6n:7.2f}"
        )
    results["peers"] = peers
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
