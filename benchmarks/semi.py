"""Semi-supervised detection at 10% labels: supervised-only vs each semi-supervised hook.

    nice -n 10 python benchmarks/semi.py [--train 1000] [--val 100] [--size 128] [--img-size 128]
        [--epochs 60] [--batch 8] [--labeled 0.1] [--style demo] [--burn-in 0.5] [--ema-decay 0.99]
        [--threads 1] [--methods sup,dense,arsl,pseudo] [--work-dir DIR] [--json out.json]
        [--from-sup EPOCHS [--init sup.pt]] [--ignore-thr T]

1. Writes detreg's own synthetic set (``--style``, six shapes; ``--train``/``--val`` images of
   side ``--size``), once per setting.
2. Keeps the labels of ``--labeled`` of the training images (a fixed random subset, seed 0)
   and uses all the other training images as unlabeled images (their labels ignored in
   training; the benchmark reads them only to measure the pseudo-labels).
3. Trains YOLOv6-N on the same labeled subset for the same epochs, in this process, one run
   per method: supervised only (the demo recipe: short warmup, EMA with tau 200),
   DenseTeacherHook, ARSLHook, PseudoBoxHook. A method that fails is reported as a row
   (``failed: <reason>``) and the others still run.
4. Evaluates each run's final evaluation model (EMA / teacher) on the val images (COCO
   mAP50-95 and mAP50), and measures the pseudo-labels that model would give on 200
   unlabeled images against their hidden labels: the share of DenseTeacher's top-``ratio``
   anchors whose box matches a ground-truth box of the anchor's class at IoU 0.5
   (``dense_prec``), and the precision/recall of the pseudo boxes at ``score_thr``
   (``pb_prec``/``pb_rec``, boxes per image ``pb_n``). The semi runs are measured also at the
   end of the burn-in (the teacher then is the student copied).

**Warm start** (``--from-sup EPOCHS``): the recipe of PseudoBoxHook (Semi-RTDETR) and the
fair question "do the unlabeled images add anything to a converged supervised model?". One
supervised-only run of ``--epochs`` first (row ``sup@E``; or ``--init`` an existing
checkpoint, so methods can run in parallel processes), then every method trains EPOCHS more
from its EMA weights: supervised-only continues (``train.pretrained``), each
semi-supervised hook starts teacher and student from them (``teacher_weights`` /
``student_weights``) with the unsupervised loss on from the first step. Every row then has
the same labeled subset and the same total epochs.

The semi-supervised choices, all for a run of a few hundred steps (see
``docs/semi_supervised.md``): the first ``--burn-in`` of the iterations are supervised only
(the teacher becomes the student at their end); then the unsupervised loss, ramped linearly
over a tenth of the run. Teacher EMA decay ``--ema-decay`` 0.99 (a 100-step horizon; Paddle's
0.9996 would keep the teacher the burn-in model for the whole remaining run). PseudoBoxHook
score threshold 0.3 (Paddle's 0.7 is for DETR scores; YOLOv6's VFL scores are IoU-aware and
lower: an 80-epoch supervised model of this benchmark gives 0.35 boxes per image at 0.5 and
1.8 at 0.3, at the same precision ~0.2). Labeled images without Mosaic (``--mosaic``): at
128 px it quarters objects that are already small (40 epochs: mAP50-95 0.0098 without,
0.0066 with).

Prints mAP50-95, mAP50, the wall time of each run and each method's mAP ratio to
supervised-only. Defaults: about 25 minutes of CPU time on one thread (the
supervised run ~4.5, each semi-supervised one ~7). Supervised-only measured at 40 epochs:
mAP50-95 0.010, at 60 (the default): 0.044, at 80: 0.034: a weak teacher, see
``docs/semi_supervised.md``.
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
from typing import Any

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
DENSE_RATIO = 0.01  # DenseTeacherHook's default (PaddleDetection's)
SCORE_THR = 0.3  # PseudoBoxHook's threshold in this benchmark (see the module docstring)
#: Per-step scalars kept for the loss curves.
CURVE_KEYS = ("loss", "cls", "iou", "unsup", "unsup_cls", "unsup_box", "unsup_boxes", "unsup_pos_thr")
#: Filled by :class:`CurveHook` during a run (the benchmark runs one training at a time).
CURVES: dict[str, Any] = {}


def make_split(root: Path, args: argparse.Namespace) -> tuple[Path, Path, int, int]:
    """The synthetic set, its labeled-subset data yaml and the unlabeled image list."""
    from detreg.data.io import list_images
    from detreg.data.synth import make_synth_dataset

    data = root / f"synth-{args.style}-{args.train}-{args.val}-{args.size}"
    if not (data / "data.yaml").is_file():
        make_synth_dataset(data, n_train=args.train, n_val=args.val, size=args.size, seed=0, style=args.style)
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


def probe_loader(unlabeled: Path, img_size: int, names: list[str], n: int = 200) -> Any:
    """Batches of the first ``n`` unlabeled images, letterboxed, with their (hidden) labels."""
    import torch

    from detreg.data.collate import collate
    from detreg.registry import DATASETS

    paths = Path(unlabeled).read_text().split()[:n]
    cfg = {"type": "YOLODataset", "img_path": paths, "img_size": img_size, "class_names": names}
    cfg["transforms"] = [{"type": "Letterbox", "scaleup": True}]
    ds = DATASETS.build(cfg, "probe", {})
    return torch.utils.data.DataLoader(ds, batch_size=8, shuffle=False, collate_fn=collate)


def pseudo_quality(model: Any, loader: Any, ratio: float = DENSE_RATIO, score_thr: float = SCORE_THR) -> dict:
    """How good the pseudo-labels of ``model`` (as a teacher) are on images with hidden labels.

    ``dense_prec``: share of the top-``ratio`` anchors (by max class score, per batch, as
    DenseTeacherHook selects) whose decoded box has IoU >= 0.5 with a ground-truth box of the
    anchor's top class. ``pb_prec``/``pb_rec``: precision and recall at IoU 0.5 (same class)
    of the boxes scoring >= ``score_thr`` after NMS (PseudoBoxHook's); ``pb_n``: boxes per
    image; ``max_score``: the mean of each image's highest score.
    """
    import torch

    from detreg.losses.semi import top_ratio_mask
    from detreg.ops.boxes import bbox_iou, xywh2xyxy
    from detreg.ops.nms import postprocess

    was_training = model.training
    model.eval()
    hits = sel = tp = n_det = n_gt = matched_gt = n_img = 0
    top = 0.0
    with torch.no_grad():
        for batch in loader:
            img = batch["img"].float() / 255.0
            h, w = img.shape[-2:]
            dec = model.head.decode(model.raw_outputs(img))
            t = batch["targets"]
            gt_xyxy = xywh2xyxy(t[:, 2:6] * t.new_tensor([w, h, w, h]))
            scores, cls = dec[..., 4:].max(-1)
            fg = top_ratio_mask(scores, ratio)
            dets = postprocess(dec, score_thr, 0.65)
            for i in range(img.shape[0]):
                own = t[:, 0] == i
                g_box, g_cls = gt_xyxy[own], t[own, 1].long()
                n_img += 1
                n_gt += int(own.sum())
                top += float(scores[i].max())
                boxes, labels = dec[i, fg[i], :4], cls[i, fg[i]]
                sel += boxes.shape[0]
                if boxes.shape[0] and g_box.shape[0]:
                    iou = bbox_iou(boxes[:, None], g_box[None], "iou")
                    iou = torch.where(labels[:, None] == g_cls[None], iou, torch.zeros_like(iou))
                    hits += int((iou.amax(1) >= 0.5).sum())
                d = dets[i]
                n_det += d.shape[0]
                if d.shape[0] and g_box.shape[0]:
                    iou = bbox_iou(d[:, None, :4], g_box[None], "iou")
                    iou = torch.where(d[:, 5:6].long() == g_cls[None], iou, torch.zeros_like(iou))
                    tp += int((iou.amax(1) >= 0.5).sum())
                    matched_gt += int((iou.amax(0) >= 0.5).sum())
    model.train(was_training)
    return {
        "dense_prec": hits / max(1, sel),
        "pb_prec": tp / max(1, n_det),
        "pb_rec": matched_gt / max(1, n_gt),
        "pb_n": n_det / max(1, n_img),
        "max_score": top / max(1, n_img),
    }


def curve_hook() -> type:
    """:class:`CurveHook`, built here so that detreg is imported only after ``--threads``."""
    from detreg.engine.hook import Hook

    class CurveHook(Hook):
        """Keeps the per-step losses of a run in :data:`CURVES` and measures the pseudo-labels
        of the student at the end of the burn-in (what the teacher is copied from)."""

        priority = 90

        def __init__(self, probe_at: int = -1) -> None:
            self.probe_at = probe_at

        def after_step(self, runner: Any) -> None:
            row = {k: v for k, v in runner.storage.latest.items() if k in CURVE_KEYS}
            CURVES.setdefault("steps", []).append(row)
            if runner.iter + 1 == self.probe_at:
                CURVES["burn_in"] = pseudo_quality(runner.unwrapped_model, CURVES["probe"])

    return CurveHook


def curve_summary(steps: list[dict], chunks: int = 8) -> list[dict]:
    """Means of each kept scalar over ``chunks`` equal stretches of the run."""
    out = []
    if not steps:
        return out
    size = max(1, -(-len(steps) // chunks))
    for start in range(0, len(steps), size):
        part = steps[start : start + size]
        keys = sorted({k for r in part for k in r})
        out.append({"from_step": start, **{k: sum(r.get(k, 0.0) for r in part) / len(part) for k in keys}})
    return out


def train_transforms(mosaic: float) -> list[dict]:
    """YOLOv6's training augmentation (:func:`detreg.data.pipelines.train_transforms`) with
    Mosaic at ``mosaic`` and no MixUp step."""
    from detreg.data.pipelines import train_transforms as yolov6_transforms

    return [t for t in yolov6_transforms(mosaic=mosaic) if t["type"] != "MixUp"]


def run(
    method: str,
    data: Path,
    unlabeled: Path,
    work: Path,
    args: argparse.Namespace,
    iters: int,
    epochs: int | None = None,
    init: Path | None = None,
) -> dict[str, Any]:
    """Train one method; its final metrics, wall time, pseudo-label quality and loss curve.

    With ``init`` (a converged supervised checkpoint) the run starts from it: the student
    (``train.pretrained`` / the hook's ``student_weights``) and the teacher
    (``teacher_weights``) both, and the unsupervised loss is on from the first step (the
    checkpoint is the burn-in)."""
    from detreg.engine.runner import Runner
    from detreg.launch import CONFIG_DIR, prepare_config

    epochs = epochs or args.epochs
    burn_in = 0 if init else int(round(iters * args.burn_in))
    overrides = [
        f"data.source={data}",
        f"work_dir={work / method}",
        f"train.epochs={epochs}",
        f"train.img_size={args.img_size}",
        f"train.batch_size={args.batch}",
        f"train.nominal_batch_size={args.batch}",
        "train.workers=0",
        "train.amp=false",
        "train.warmup_epochs=1",
        "hooks.warmup.min_warmup_iters=30",
        "hooks.ema.tau=200",
        "hooks.eval.final_only=true",
        "hooks.eval.plots=never",
        "hooks.progress.bar=false",
        "hooks.images=null",
        "hooks.tensorboard=null",
        f"data.train.transforms={json.dumps(train_transforms(args.mosaic))}",
        f"hooks.curves={{type: {__name__}.CurveHook, probe_at: {burn_in}}}",  # measured from here
    ]
    hook = METHODS[method]
    if hook is not None:
        semi = {"type": hook, "ema_start": burn_in, "semi_start": burn_in, "ramp_iters": max(1, iters // 10)}
        semi["ema_decay"] = args.ema_decay
        if init:
            semi["teacher_weights"] = semi["student_weights"] = str(init)
        if hook == "PseudoBoxHook":
            semi["score_thr"] = SCORE_THR
            if args.ignore_thr is not None:
                semi["ignore_thr"] = args.ignore_thr
        if hook == "DenseTeacherHook":
            semi["ratio"] = DENSE_RATIO
        unl = {"img_path": str(unlabeled), "transforms": [{"type": "RandomFlip"}]}
        unl["strong_transforms"] = STRONG
        overrides += ["hooks.ema=null", f"hooks.semi={json.dumps(semi)}", f"data.unlabeled={json.dumps(unl)}"]
    elif init:
        overrides.append(f"train.pretrained={init}")
    cfg = prepare_config(CONFIG_DIR / "yolov6n.yaml", overrides)
    CURVES.clear()
    CURVES["probe"] = probe = probe_loader(
        unlabeled, args.img_size, yaml.safe_load(data.read_text())["names"]
    )
    t0 = time.perf_counter()
    runner = Runner(cfg)
    runner.train()
    wall = time.perf_counter() - t0
    return {
        "method": method,
        "mAP50_95": float(runner.metrics.get("mAP50_95", float("nan"))),
        "mAP50": float(runner.metrics.get("mAP50", float("nan"))),
        "wall_s": wall,
        "epochs": epochs,
        "init": str(init) if init else None,
        "weights": str(work / method / "best.pt"),
        "final": pseudo_quality(runner.eval_model, probe),
        "burn_in": CURVES.get("burn_in"),
        "curve": curve_summary(CURVES.get("steps", [])),
    }


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, shortened."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 160 else text[:157] + "..."


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", type=int, default=1000)
    p.add_argument("--val", type=int, default=100)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--img-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--labeled", type=float, default=0.1)
    p.add_argument("--style", default="demo")
    p.add_argument("--burn-in", type=float, default=0.5, help="share of the iterations supervised only")
    p.add_argument("--ema-decay", type=float, default=0.99, help="the teacher's EMA decay")
    p.add_argument("--mosaic", type=float, default=0.0, help="Mosaic probability of the labeled images")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--methods", default="sup,dense,arsl,pseudo")
    p.add_argument("--work-dir", default=None)
    p.add_argument("--json", default=None)
    p.add_argument(
        "--from-sup",
        type=int,
        default=0,
        metavar="EPOCHS",
        help="warm start: train supervised-only for --epochs first (or take --init), then every "
        "method for EPOCHS more from those weights, teacher included, unsup loss from step 0",
    )
    p.add_argument("--init", default=None, help="with --from-sup: the supervised checkpoint to start from")
    p.add_argument(
        "--ignore-thr",
        type=float,
        default=None,
        help="PseudoBoxHook's ignore_thr: anchors the teacher scores at least this are not background",
    )
    args = p.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        p.error(f"unknown methods {bad}; choose from {sorted(METHODS)}")

    import torch

    torch.set_num_threads(args.threads)
    globals()["CurveHook"] = curve_hook()
    logging.getLogger("detreg").setLevel(logging.WARNING)
    root = Path(args.work_dir or tempfile.mkdtemp(prefix="detreg-semi-"))
    root.mkdir(parents=True, exist_ok=True)
    data, unlabeled, n_lab, n_unl = make_split(root, args)
    iters = args.epochs * -(-n_lab // args.batch)
    print(
        f"data: {n_lab} labeled + {n_unl} unlabeled train images ({args.style}), {args.val} val, side "
        f"{args.size}; YOLOv6-N at {args.img_size}, {args.epochs} epochs x batch {args.batch} ({iters} "
        f"steps, burn-in {args.burn_in:.0%}, teacher decay {args.ema_decay}), {args.threads} thread(s)",
        flush=True,
    )
    rows: list[dict[str, Any]] = []

    def save() -> None:  # after every row: a stopped run keeps what it measured
        if args.json:
            Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))

    def one(method: str, **kw: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            row = run(method, data, unlabeled, kw.pop("work", root / "runs"), args, **kw)
        except Exception as exc:  # one failing method is a row; the others still run
            row = {"method": method, "failed": one_line(exc), "wall_s": time.perf_counter() - t0}
        rows.append(row)
        save()
        if "failed" in row:
            print(f"{method:>7}: failed: {row['failed']}  ({row['wall_s']:.0f} s)", flush=True)
            return row
        q = row["final"]
        print(
            f"{method:>7}: mAP50-95 {row['mAP50_95']:.4f}  mAP50 {row['mAP50']:.4f}  "
            f"wall {row['wall_s']:.0f} s  | pseudo-labels: dense_prec {q['dense_prec']:.2f}  "
            f"pb_prec {q['pb_prec']:.2f} pb_rec {q['pb_rec']:.2f}  pb_n {q['pb_n']:.1f}  "
            f"max_score {q['max_score']:.2f}",
            flush=True,
        )
        return row

    if args.from_sup:
        init = Path(args.init) if args.init else None
        if init is None:
            first = one("sup", iters=iters, work=root / "runs-phase1")
            if "failed" in first:
                return 1
            first["method"] = f"sup@{args.epochs}"
            init = Path(first["weights"])
            save()
        warm_iters = args.from_sup * -(-n_lab // args.batch)
        print(f"warm start from {init}: {args.from_sup} more epochs ({warm_iters} steps) each", flush=True)
        for method in methods:
            one(method, iters=warm_iters, epochs=args.from_sup, init=init, work=root / "runs-warm")
    else:
        for method in methods:
            one(method, iters=iters)
    base = next((r for r in rows if r["method"] == "sup" and "failed" not in r), None)
    print(f"\n{'method':>7} {'mAP50-95':>9} {'mAP50':>7} {'wall s':>7} {'vs sup':>7}")
    for r in rows:
        if "failed" in r:
            print(f"{r['method']:>7} failed: {r['failed']}")
            continue
        ratio = r["mAP50_95"] / base["mAP50_95"] if base and base["mAP50_95"] > 0 else float("nan")
        print(f"{r['method']:>7} {r['mAP50_95']:9.4f} {r['mAP50']:7.4f} {r['wall_s']:7.0f} {ratio:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
