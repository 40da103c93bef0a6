"""Does distillation help? A teacher, then a YOLOv6-N student with and without DistillHook.

    python benchmarks/distill.py [--train 160] [--val 80] [--size 96] [--epochs 6]
        [--teacher-epochs 16] [--teacher distill/yolov6n_dfl.yaml] [--batch 16]
        [--threads 1] [--seed 0] [--data-dir DIR] [--work-dir DIR] [-- HOOK_OVERRIDES...]

1. Writes (once; reused when it exists) the built-in synthetic set (six shapes) with
   ``--train``/``--val`` images of side ``--size``.
2. Trains the teacher (``--teacher``, default the DFL YOLOv6-N trained ``--teacher-epochs``:
   "a longer-trained N"; ``distill/yolov6s_dfl.yaml`` for a bigger one) with the same recipe.
3. Trains the DFL YOLOv6-N student twice for ``--epochs`` with the same seed, data and
   recipe: without the hook, then with ``hooks.distill`` (``teacher_weights`` = the teacher's
   ``last.pt``, EMA weights) plus any ``hooks.distill.*`` OVERRIDES after ``--``.
4. Prints the final mAP50-95 / mAP50 of all three (the EMA model, conf 0.001), the wall
   time of both student runs and, measured in this process on one training batch, the
   teacher's forward (no_grad) against the student's forward + loss + backward.

All runs use the demo's short-run recipe (``configs/demo.yaml``: a step every batch, lr
0.02 unscaled, one warmup epoch, EMA tau 200) on top of YOLOv6's. Everything runs in this
process on ``--threads`` intra-op threads (1 by default: run it with ``nice -n 10`` on a
shared machine). The defaults take about 10 minutes on one idle thread; the scale is what
flags are for.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from bench_timing import median_seconds

REPO = Path(__file__).resolve().parents[1]


def make_data(args: argparse.Namespace) -> Path:
    """The benchmark set (generated once per train/val/size/seed); returns its data yaml."""
    from detreg.data.synth import make_synth_dataset

    root = Path(
        args.data_dir or REPO / "runs" / "bench" / f"distill-{args.train}-{args.val}-{args.size}-s{args.seed}"
    )
    if (root / "data.yaml").is_file():
        return root / "data.yaml"
    return make_synth_dataset(root, n_train=args.train, n_val=args.val, size=args.size, seed=args.seed)


def train(config: str, data: Path, work_dir: Path, epochs: int, args: argparse.Namespace, extra=()) -> tuple:
    """Train ``config`` in this process; ``(runner, wall seconds)``."""
    from detreg.engine.runner import Runner
    from detreg.launch import prepare_config

    overrides = [
        f"work_dir={work_dir}",
        f"train.epochs={epochs}",
        f"train.img_size={args.size}",
        f"train.batch_size={args.batch}",
        "train.workers=0",
        "train.amp=false",
        f"train.seed={args.seed}",
        # the demo's short-run recipe: YOLOv6's (accumulation to 64, lr scaled by batch/32,
        # EMA tau 2000) leaves a few hundred steps almost untrained
        f"train.nominal_batch_size={args.batch}",
        "optimizer.scale_lr=false",
        "train.warmup_epochs=1",
        "hooks.warmup.min_warmup_iters=30",
        "hooks.ema.tau=200",
        "hooks.eval.final_only=true",
        "hooks.eval.plots=never",
        "hooks.tensorboard=null",
        "hooks.images=null",
        "hooks.progress.bar=false",
        *extra,
    ]
    cfg = prepare_config(REPO / "configs" / config, overrides, data=data)
    runner = Runner(cfg)
    start = time.perf_counter()
    runner.train()
    return runner, time.perf_counter() - start


def forward_costs(student_run, teacher_run, reps: int = 10) -> tuple[float, float]:
    """Milliseconds of the teacher's forward (no_grad) and of the student's forward + loss +
    backward, on one training batch of the student's run (median of ``reps``)."""
    batch = next(iter(student_run.train_loader))
    images = batch["img"].float().div(255.0)
    targets = batch["targets"]
    student, teacher = student_run.unwrapped_model, teacher_run.unwrapped_model
    student.train()
    teacher.eval()

    def student_step() -> None:
        student(images, targets)["loss"].backward()
        student.zero_grad(set_to_none=True)

    def teacher_forward() -> None:
        with torch.no_grad():
            teacher.raw_outputs(images)

    return median_seconds(teacher_forward, reps) * 1000, median_seconds(student_step, reps) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=160)
    parser.add_argument("--val", type=int, default=80)
    parser.add_argument("--size", type=int, default=96, help="image side (and train.img_size)")
    parser.add_argument("--epochs", type=int, default=6, help="student epochs")
    parser.add_argument("--teacher-epochs", type=int, default=16)
    parser.add_argument("--teacher", default="distill/yolov6n_dfl.yaml", help="teacher config")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("overrides", nargs="*", help="hooks.distill.* overrides for the distilled student")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = make_data(args)
    root = Path(args.work_dir or REPO / "runs" / "bench" / f"distill-run-s{args.seed}")
    student_cfg = "distill/yolov6n_dfl.yaml"

    teacher, t_wall = train(args.teacher, data, root / "teacher", args.teacher_epochs, args)
    plain, p_wall = train(student_cfg, data, root / "student_plain", args.epochs, args)
    hook = f"type: DistillHook, teacher: {args.teacher}, teacher_weights: {root / 'teacher' / 'last.pt'}"
    overrides = [f"hooks.distill={{{hook}}}", *args.overrides]
    kd, k_wall = train(student_cfg, data, root / "student_distill", args.epochs, args, overrides)
    t_ms, s_ms = forward_costs(plain, teacher)

    rows = {
        f"teacher ({args.teacher}, {args.teacher_epochs} ep)": (teacher.metrics, t_wall),
        f"student N, {args.epochs} ep, no distillation": (plain.metrics, p_wall),
        f"student N, {args.epochs} ep, DistillHook": (kd.metrics, k_wall),
    }
    print(
        f"\ndata: {args.train}/{args.val} synthetic images at {args.size} px, batch {args.batch}, "
        f"seed {args.seed}, {args.threads} thread(s); distill overrides: {args.overrides or 'none'}"
    )
    print(f"{'run':<48} {'mAP50-95':>9} {'mAP50':>7} {'wall s':>8}")
    for name, (m, wall) in rows.items():
        print(f"{name:<48} {m.get('mAP50_95', 0.0):>9.4f} {m.get('mAP50', 0.0):>7.4f} {wall:>8.0f}")
    print(f"distilled / plain student wall time: {k_wall / p_wall:.2f}x")
    print(
        f"teacher forward {t_ms:.0f} ms vs student forward+loss+backward {s_ms:.0f} ms per batch "
        f"of {args.batch}: +{100 * t_ms / s_ms:.0f}% per step"
    )
    last = json.loads((root / "student_distill" / "metrics.jsonl").read_text().splitlines()[-1])
    print(
        "last distilled epoch:",
        {
            k: round(v, 4)
            for k, v in last.items()
            if k.startswith(("kd_", "loss", "cls", "iou", "dfl")) and isinstance(v, float)
        },
    )


if __name__ == "__main__":
    main()
