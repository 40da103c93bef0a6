"""Detection quality of what a user types, on a hard synthetic set detreg draws itself.

    python benchmarks/quality.py [--train 800] [--val 200] [--size 320] [--epochs 30]
        [--img-size 320] [--batch 16] [--config yolov6n] [--threads 2] [--seed 0]
        [--data-dir DIR] [--work-dir DIR] [--label NAME] [--json out.json] [-- OVERRIDES...]

1. Writes (once; reused when it exists) the ``hard`` style of the built-in synthetic data
   (``detreg data synth --style hard``, all ten shapes: many small and overlapping objects,
   clutter, photo-like backgrounds) with ``--train``/``--val`` images of side ``--size``.
2. Trains exactly what a user types, in a subprocess and timed from the outside:
   ``detreg-train CONFIG --data DATA train.epochs=E train.img_size=S train.batch_size=B``
   plus any OVERRIDES after ``--`` (that is how the ablation rows are made).
3. Predicts the val images with the trained ``last.pt`` (EMA weights) through
   ``detreg-infer --conf 0.001`` (NMS IoU 0.65, 300 detections) and scores the predictions
   with pycocotools against ``annotations/instances_val.json``, the way
   ``../shared/bench/peer_quality.py`` scores Ultralytics on the same files.

Prints AP (0.50:0.95), AP50, training wall time and AP per training hour; ``--json``
appends the row to a file (for the ablation table).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_data(args: argparse.Namespace) -> Path:
    """The benchmark set (generated once per train/val/size/seed); returns its data yaml."""
    from detreg.data.synth import ALL_SHAPES, make_synth_dataset

    root = Path(
        args.data_dir or REPO / "runs" / "bench" / f"quality-{args.train}-{args.val}-{args.size}-s{args.seed}"
    )
    yaml_path = root / "data.yaml"
    if not (yaml_path.is_file() and (root / "annotations" / "instances_val.json").is_file()):
        t0 = time.perf_counter()
        yaml_path = make_synth_dataset(
            root,
            n_train=args.train,
            n_val=args.val,
            size=args.size,
            seed=args.seed,
            classes=ALL_SHAPES,
            style="hard",
        )
        print(f"data: wrote {args.train}/{args.val} images to {root} in {time.perf_counter() - t0:.0f} s")
    return yaml_path


def coco_scores(ann: Path, preds: list[dict]) -> tuple[float, float]:
    """``(AP50:95, AP50)`` of COCO results ``preds`` against the ground truth file ``ann``."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not preds:
        return 0.0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann))
        ev = COCOeval(gt, gt.loadRes(preds), "bbox")
        ev.params.imgIds = sorted(gt.getImgIds())
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0]), float(ev.stats[1])


def _run(cmd: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("w") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env).returncode
    if rc != 0:
        tail = log.read_text().splitlines()[-30:]
        sys.exit(f"{' '.join(cmd[:2])} failed (rc {rc}); last lines of {log}:\n" + "\n".join(tail))


def train_and_score(args: argparse.Namespace, data: Path, overrides: list[str]) -> dict:
    """Train with the user's command line, predict the val split at conf 0.001, score it."""
    work = Path(args.work_dir or REPO / "runs" / "bench" / f"quality-{args.label}")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONPATH=str(REPO))
    bindir = Path(sys.executable).parent
    train_cmd = [
        str(bindir / "detreg-train"),
        args.config,
        "--data",
        str(data),
        f"train.epochs={args.epochs}",
        f"train.img_size={args.img_size}",
        f"train.batch_size={args.batch}",
        "--work-dir",
        str(work / "train"),
        *overrides,
    ]
    print("train:", " ".join(["detreg-train", *train_cmd[1:]]), flush=True)
    t0 = time.perf_counter()
    _run(train_cmd, env, work / "train.log")
    wall = time.perf_counter() - t0
    val_dir = data.parent / "images" / "val"
    infer_cmd = [
        str(bindir / "detreg-infer"),
        "--weights",
        str(work / "train" / "last.pt"),
        "--source",
        str(val_dir),
        "--conf",
        "0.001",
        "--img-size",
        str(args.img_size),
        "--work-dir",
        str(work / "infer"),
        "--no-save-images",
    ]
    _run(infer_cmd, env, work / "infer.log")
    preds = json.loads((work / "infer" / "predictions.json").read_text())
    for p in preds:
        p.pop("file_name", None)
    ap, ap50 = coco_scores(data.parent / "annotations" / "instances_val.json", preds)
    return {
        "label": args.label,
        "overrides": overrides,
        "AP": ap,
        "AP50": ap50,
        "train_s": wall,
        "AP_per_hour": ap / (wall / 3600),
        "epochs": args.epochs,
        "img_size": args.img_size,
        "batch": args.batch,
        "train": args.train,
        "val": args.val,
        "config": args.config,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the options, make the data, train, score and print one row."""
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, overrides = argv[:i], argv[i + 1 :]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=800, help="train images (default 800)")
    ap.add_argument("--val", type=int, default=200, help="val images (default 200)")
    ap.add_argument("--size", type=int, default=320, help="nominal image side of the data (default 320)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--img-size", type=int, default=320, help="train.img_size (default 320)")
    ap.add_argument("--batch", type=int, default=16, help="train.batch_size (default 16)")
    ap.add_argument("--config", default="yolov6n")
    ap.add_argument("--threads", type=int, default=2, help="OMP threads of the subprocesses")
    ap.add_argument("--seed", type=int, default=0, help="data seed")
    ap.add_argument("--data-dir", help="where the data lives (default runs/bench/quality-...)")
    ap.add_argument("--work-dir", help="run folder (default runs/bench/quality-LABEL)")
    ap.add_argument("--label", default="default", help="row name")
    ap.add_argument("--json", help="append the row (JSON lines) to this file")
    args = ap.parse_args(argv)
    data = make_data(args)
    row = train_and_score(args, data, overrides)
    print(f"\n{'run':<24}{'AP':>7}{'AP50':>7}{'train s':>9}{'AP/hour':>9}")
    print(
        f"{row['label']:<24}{row['AP']:>7.3f}{row['AP50']:>7.3f}{row['train_s']:>9.0f}{row['AP_per_hour']:>9.3f}"
    )
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
