"""Few-shot fine-tuning on new classes: from scratch vs pretrained vs pretrained + CoT.

    nice -n 10 python benchmarks/finetune.py [--threads 1] [--size 96] [--base-train 160]
        [--base-epochs 30] [--shots 10] [--val 60] [--epochs 60] [--batch 8] [--lr 0.01]
        [--seed 0] [--out DIR] [--json FILE]

All data is detreg's own synthetic shapes (nothing is downloaded):

1. A **base model**: YOLOv6-N trained from scratch on the six base shapes (circle, square,
   triangle, star, cross, ring), ``--base-train`` images, ``--base-epochs`` epochs, the
   ``yolov6n`` recipe at batch ``2 * --batch`` with an optimizer step every batch.
2. A **few-shot target set** of four new shapes (pentagon, hexagon, diamond, arrow): about
   ``--shots`` images per class (``shots * 4`` training images of at most three objects),
   and ``--val`` validation images.
3. Three fine-tunes on the target set with the same recipe (``finetune/yolov6n_finetune``
   with ``optimizer.lr=--lr`` not scaled down by the batch size, and an optimizer step every
   batch: YOLOv6's accumulation to 64 images would give a 40-image set one step per epoch),
   seed and ``--epochs``: **scratch** (no weights), **pretrained** (``train.pretrained`` =
   the base model's ``last.pt``; class predictors re-initialised for the new classes) and
   **pretrained + CoT** (``hooks.cot: {type: CoTHook}`` as well).

Prints mAP50-95 and mAP50 on the target val set (COCO, EMA weights, at the last epoch) and
the wall time of each run. Each run's log goes to ``OUT/<name>.log``.

Last run (defaults, ``nice -n 10``, one thread on a loaded 2-core machine): scratch
0.0006 / 0.0014, pretrained 0.0120 / 0.0403, pretrained + CoT 0.0088 / 0.0183 (mAP50-95 /
mAP50); see docs/finetuning.md for what these say and do not say.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
BASE_CLASSES = ("circle", "square", "triangle", "star", "cross", "ring")
NEW_CLASSES = ("pentagon", "hexagon", "diamond", "arrow")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--size", type=int, default=96, help="image side (data and training)")
    p.add_argument("--base-train", type=int, default=160)
    p.add_argument("--base-epochs", type=int, default=30)
    p.add_argument("--shots", type=int, default=10, help="about this many training images per new class")
    p.add_argument("--val", type=int, default=60)
    p.add_argument("--epochs", type=int, default=60, help="epochs of each fine-tune")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=0.01, help="fine-tuning lr (all three runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(REPO / "runs" / "bench" / "finetune"))
    p.add_argument("--json", help="append the results as one JSON line to this file")
    return p.parse_args(argv)


def make_sets(args: argparse.Namespace, out: Path) -> tuple[Path, Path]:
    """The base set (six shapes) and the few-shot target set (four new shapes)."""
    from detreg.data.synth import SynthStyle, make_synth_dataset

    few = SynthStyle(min_objects=1, max_objects=3)
    base = make_synth_dataset(
        out / "data_base",
        n_train=args.base_train,
        n_val=8,
        size=args.size,
        seed=args.seed,
        classes=BASE_CLASSES,
    )
    target = make_synth_dataset(
        out / "data_new",
        n_train=args.shots * len(NEW_CLASSES),
        n_val=args.val,
        size=args.size,
        seed=args.seed + 1,
        classes=NEW_CLASSES,
        style=few,
    )
    return base, target


def train(
    name: str,
    config: str,
    data: Path,
    args: argparse.Namespace,
    out: Path,
    extra: list[str],
    evaluate: bool = True,
) -> dict | None:
    """One training run in this process (its log in ``OUT/<name>.log``); its final metrics
    (None without ``evaluate``)."""
    from detreg.engine.runner import Runner
    from detreg.launch import prepare_config

    overrides = [
        f"work_dir={out / name}",
        f"train.img_size={args.size}",
        f"train.batch_size={args.batch}",
        "train.workers=0",
        f"train.seed={args.seed}",
        "hooks.eval={type: EvalHook, final_only: true, plots: never}",
        "hooks.best=null",
        "hooks.tensorboard=null",
        "hooks.images=null",
        "hooks.progress.bar=false",
        *extra,
    ]
    log = out / f"{name}.log"
    if (out / name).exists():  # this benchmark's own run folder from an earlier invocation
        shutil.rmtree(out / name)
    t0 = time.perf_counter()
    with open(log, "w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        runner = Runner(prepare_config(config, overrides, data=data))
        runner.train()
    seconds = time.perf_counter() - t0
    if not evaluate:
        return None
    m = runner.metrics
    row = {
        "run": name,
        "mAP50_95": float(m["mAP50_95"]),
        "mAP50": float(m["mAP50"]),
        "seconds": round(seconds, 1),
    }
    print(
        f"{name:<16} mAP50-95 {row['mAP50_95']:.4f}  mAP50 {row['mAP50']:.4f}  {seconds:7.1f} s  (log {log})"
    )
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    """Base model, then the three fine-tunes; prints and returns the rows."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base_data, new_data = make_sets(args, out)
    print(
        f"base: {len(BASE_CLASSES)} shapes, {args.base_train} images, {args.base_epochs} epochs; "
        f"target: {len(NEW_CLASSES)} new shapes, {args.shots * len(NEW_CLASSES)} images "
        f"(~{args.shots}/class), {args.val} val, {args.epochs} epochs; {args.size} px, "
        f"{args.threads} thread(s)"
    )
    t0 = time.perf_counter()
    base = [
        f"train.epochs={args.base_epochs}",
        f"train.batch_size={2 * args.batch}",
        f"train.nominal_batch_size={2 * args.batch}",
        "hooks.eval=null",
    ]
    train("base", "yolov6n", base_data, args, out, base, evaluate=False)
    base_run = out / "base"
    print(f"{'base model':<16} trained in {time.perf_counter() - t0:7.1f} s ({base_run / 'last.pt'})")
    rows = []
    weights = base_run / "last.pt"
    common = [
        f"train.epochs={args.epochs}",
        f"optimizer.lr={args.lr}",
        f"optimizer.bs_per_gpu={args.batch}",
        f"train.nominal_batch_size={args.batch}",
    ]
    config = "finetune/yolov6n_finetune"
    rows.append(train("scratch", config, new_data, args, out, [*common, "hooks.pretrained=null"]))
    rows.append(train("pretrained", config, new_data, args, out, [*common, f"train.pretrained={weights}"]))
    rows.append(
        train(
            "pretrained+cot",
            config,
            new_data,
            args,
            out,
            [*common, f"train.pretrained={weights}", "hooks.cot={type: CoTHook}"],
        )
    )
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps({"args": vars(args), "rows": rows}) + "\n")
    return rows


if __name__ == "__main__":
    main()
