"""Semi-supervised detection at 10% labels: supervised-only vs each semi-supervised hook.

    nice -n 10 python benchmarks/semi.py [--train 300] [--val 60] [--size 128] [--img-size 128]
        [--epochs 40] [--batch 8] [--labeled 0.1] [--threads 1] [--methods sup,dense,arsl,pseudo]
        [--work-dir DIR] [--json out.json]

1. Writes detreg's own synthetic set (``demo`` style, six shapes; ``--train``/``--val``
   images of side ``--size``), once per setting.
2. Keeps the labels of ``--labeled`` of the training images (a fixed random subset, seed 0)
   and uses all the other training images as unlabeled images (their labels ignored).
3. Trains YOLOv6-N on the same labeled subset for the same epochs, in this process, one run
   per method: supervised only (the normal recipe with its EMA), DenseTeacherHook, ARSLHook,
   PseudoBoxHook. The semi-supervised runs use the first half of the iterations as burn-in
   (supervised only; the teacher becomes the student at its end), then add the unlabeled
   loss, ramped linearly over a tenth of the run. The teacher's EMA decay is 0.99, not
   PaddleDetection's 0.9996: with a few hundred steps a 0.9996 teacher would stay the burn-in
   model. ``PseudoBoxHook`` uses score threshold 0.5 (PaddleDetection's 0.7 is for DETR scores;
   YOLOv6's VFL scores are IoU-aware and lower).
4. Evaluates the final evaluation model (EMA / teacher) on the val images (mAP50-95, COCO).

Prints mAP50-95, mAP50 and the wall time of each run, and each method's mAP ratio to
supervised-only. Defaults take about 10 minutes on one idle thread.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

import yaml

STRONG = [
    {"type": "ColorJitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1, "prob": 0.8},
    {"type": "GaussianBlur", "prob": 0.5, "sigma": [0.1, 2.0]},
    {"type": "RandomGrayscale", "prob": 0.2},
    {"type": "RandomErasing", "prob": 0.7, "scale": [0.05, 0.2]},
]
METHODS = {
    "sup": None,
    "dense": "DenseTeacherHook",
    "arsl": "ARSLHook",
    "pseudo": "PseudoBoxHook",
}


def make_split(root: Path, args: argparse.Namespace) -> tuple[Path, Path, int, int]:
    """The synthetic set, its labeled-subset data yaml and the unlabeled image list."""
    from detreg.data.io import list_images
    from detreg.data.synth import make_synth_dataset

    data = root / f"synth-{args.train}-{args.val}-{args.size}"
    if not (data / "data.yaml").is_file():
        make_synth_dataset(data, n_train=args.train, n_val=args.val, size=args.size, seed=0)
    images = list_images(str(data / "images" / "train"))
    rng = random.Random(0)
    labeled = sorted(rng.sample(images, max(1, round(args.labeled * len(images)))))
    unlabeled = sorted(set(images) - set(labeled))
    (root / "labeled.txt").write_text("\n".join(labeled) + "\n")
    (root / "unlabeled.txt").write_text("\n".join(unlabeled) + "\n")
    names = yaml.safe_load((data / "data.yaml").read_text())["names"]
    spec = {"train": str(root / "labeled.txt"), "val": str(data / "images" / "val"), "names": names}
    (root / "labeled.yaml").write_text(yaml.safe_dump(spec))
    return root / "labeled.yaml", root / "unlabeled.txt", len(labeled), len(unlabeled)


def run(method: str, data: Path, unlabeled: Path, work: Path, args: argparse.Namespace, iters: int) -> dict:
    """Train one method; its final metrics and wall time."""
    from detreg.engine.runner import Runner
    from detreg.launch import CONFIG_DIR, prepare_config

    overrides = [
        f"data.source={data}",
        f"work_dir={work / method}",
        f"train.epochs={args.epochs}",
        f"train.img_size={args.img_size}",
        f"train.batch_size={args.batch}",
        f"train.nominal_batch_size={args.batch}",
        "train.workers=0",
        "train.amp=false",
        "hooks.eval.final_only=true",
        "hooks.eval.plots=never",
        "hooks.progress.bar=false",
        "hooks.images=null",
        "hooks.tensorboard=null",
    ]
    hook = METHODS[method]
    if hook is not None:
        burn_in = iters // 2
        semi = {"type": hook, "ema_start": burn_in, "semi_start": burn_in, "ramp_iters": max(1, iters // 10)}
        semi["ema_decay"] = 0.99
        if hook == "PseudoBoxHook":
            semi["score_thr"] = 0.5
        unl = {"img_path": str(unlabeled), "transforms": [{"type": "RandomFlip"}]}
        unl["strong_transforms"] = STRONG
        overrides += ["hooks.ema=null", f"hooks.semi={json.dumps(semi)}", f"data.unlabeled={json.dumps(unl)}"]
    cfg = prepare_config(CONFIG_DIR / "yolov6n.yaml", overrides)
    t0 = time.perf_counter()
    runner = Runner(cfg)
    runner.train()
    wall = time.perf_counter() - t0
    return {
        "method": method,
        "mAP50_95": float(runner.metrics.get("mAP50_95", float("nan"))),
        "mAP50": float(runner.metrics.get("mAP50", float("nan"))),
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", type=int, default=300)
    p.add_argument("--val", type=int, default=60)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--img-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--labeled", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--methods", default="sup,dense,arsl,pseudo")
    p.add_argument("--work-dir", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        p.error(f"unknown methods {bad}; choose from {sorted(METHODS)}")

    import torch

    torch.set_num_threads(args.threads)
    logging.getLogger("detreg").setLevel(logging.WARNING)
    root = Path(args.work_dir or tempfile.mkdtemp(prefix="detreg-semi-"))
    root.mkdir(parents=True, exist_ok=True)
    data, unlabeled, n_lab, n_unl = make_split(root, args)
    iters = args.epochs * -(-n_lab // args.batch)
    print(
        f"data: {n_lab} labeled + {n_unl} unlabeled train images, {args.val} val, side {args.size}; "
        f"YOLOv6-N at {args.img_size}, {args.epochs} epochs x batch {args.batch} ({iters} steps), "
        f"{args.threads} thread(s)",
        flush=True,
    )
    rows = []
    for method in methods:
        row = run(method, data, unlabeled, root / "runs", args, iters)
        rows.append(row)
        m, m50, wall = row["mAP50_95"], row["mAP50"], row["wall_s"]
        print(f"{method:>7}: mAP50-95 {m:.4f}  mAP50 {m50:.4f}  wall {wall:.0f} s", flush=True)
    base = next((r for r in rows if r["method"] == "sup"), None)
    print(f"\n{'method':>7} {'mAP50-95':>9} {'mAP50':>7} {'wall s':>7} {'vs sup':>7}")
    for r in rows:
        ratio = r["mAP50_95"] / base["mAP50_95"] if base and base["mAP50_95"] > 0 else float("nan")
        print(f"{r['method']:>7} {r['mAP50_95']:9.4f} {r['mAP50']:7.4f} {r['wall_s']:7.0f} {ratio:7.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
