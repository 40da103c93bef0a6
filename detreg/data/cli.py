"""``detreg data ...`` commands: check, convert, show (plus ``synth`` from detreg.data.synth).

The lead's CLI calls :func:`add_parsers` with the ``data`` sub-parsers; every command sets
``args.func`` (a handler returning the exit code).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from detreg.errors import DetregError

SPLITS = ("train", "val", "test")


def check(data_yaml: str | os.PathLike, workers: int | None = None, cache: bool = True) -> int:
    """Scan every split of a data yaml; print the summary, one line per bad file and per image
    without a label file, and the errors that make a split unusable.

    Returns 0 when every image is usable, 1 when some are corrupt (they would be skipped) or a
    split is unusable (no images, no label files, no boxes, class ids beyond ``nc``).
    """
    from detreg.data.data_yaml import load_data_yaml
    from detreg.data.io import img2label_path, list_images
    from detreg.data.scan import scan

    data = load_data_yaml(data_yaml)
    worst = 0
    for split in SPLITS:
        src = data.get(split)
        if src is None:
            continue
        if data["format"] == "coco":
            import json

            ann = src.get("ann_file") if isinstance(src, dict) else data.get(f"{split}_ann")
            img_dir = (src.get("img_dir") or src.get("images")) if isinstance(src, dict) else src
            if img_dir is None:
                from detreg.data.coco import guess_img_dir

                img_dir = guess_img_dir(ann)
            with open(ann, encoding="utf-8") as f:
                images = [os.path.join(img_dir, im["file_name"]) for im in json.load(f)["images"]]
            report = scan(
                images, None, None, cache_path=(ann + ".cache.json") if cache else False, workers=workers
            )
        else:
            images = list_images(src)
            if not images:
                print(f"{split}: error: no images in {src}")
                worst = 1
                continue
            report = scan(
                images, [img2label_path(p) for p in images], data["nc"], cache_path=cache, workers=workers
            )
        print(f"{split}: {report.text()}")
        errors = report.errors(data["nc"] if data["format"] != "coco" else None)
        if not report.results:
            errors.append("no images")
        for e in errors:
            print(f"{split}: error: {e}")
        worst = max(worst, 1 if report.counts["corrupt"] or errors else 0)
    return worst


def convert(src: str | os.PathLike, dst: str | os.PathLike, to: str = "coco") -> Path:
    """Convert a dataset between YOLO and COCO formats (see :mod:`detreg.data.convert`)."""
    from detreg.data.convert import convert as _convert

    return _convert(src, dst, to)


def _train_dataset(cfg_or_data_yaml: str | os.PathLike, img_size: int | None, seed: int) -> tuple[Any, int]:
    """The training dataset of a config (its ``data.train``) or of a data yaml (default
    YOLOv6 augmentation), and the image size."""
    import yaml

    from detreg.data.data_yaml import data_section_from_yaml
    from detreg.data.pipelines import train_transforms
    from detreg.registry import DATASETS

    path = Path(cfg_or_data_yaml)
    if not path.is_file():
        raise DetregError(f"no such file: {cfg_or_data_yaml} (a config or a data yaml)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise DetregError(f"{cfg_or_data_yaml}{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if isinstance(raw, dict) and ("model" in raw or "_base_" in raw or isinstance(raw.get("data"), dict)):
        from detreg.config import load_config, run_context
        from detreg.launch import resolve_data_source

        cfg = load_config(cfg_or_data_yaml)
        resolve_data_source(cfg)
        ctx = run_context(cfg.data)
        if img_size:
            ctx["img_size"] = img_size
        size = int(ctx.get("img_size", 640))
        ctx["img_size"] = size
        return DATASETS.build(cfg.data["data"]["train"], "data.train", ctx), size
    section = data_section_from_yaml(cfg_or_data_yaml)
    size = int(img_size or 640)
    cfg = dict(section["train"], transforms=train_transforms())
    return DATASETS.build(cfg, "data.train", {"img_size": size, "seed": seed}), size


def show_batch(
    cfg_or_data_yaml: str | os.PathLike,
    out_png: str | os.PathLike,
    n: int = 16,
    img_size: int | None = None,
    seed: int = 0,
    epoch: int = 0,
) -> Path:
    """Write one training batch (with its augmentation, boxes and class names) as a PNG."""
    import cv2

    from detreg.data.draw import draw_batch
    from detreg.data.loader import build_dataloader

    dataset, _ = _train_dataset(cfg_or_data_yaml, img_size, seed)
    loader = build_dataloader(
        dataset, batch_size=n, workers=0, shuffle=True, seed=seed, persistent_workers=False
    )
    loader.set_epoch(epoch)
    batch = next(iter(loader))
    grid = draw_batch(batch, dataset.class_names, max_images=n)
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise DetregError(f"cannot write {out}")
    return out


def _run_check(args: argparse.Namespace) -> int:
    return check(args.data, workers=args.workers, cache=not args.no_cache)


def _run_convert(args: argparse.Namespace) -> int:
    out = convert(args.src, args.dst, args.to)
    print(f"convert: wrote {out}")
    return 0


def _run_show(args: argparse.Namespace) -> int:
    out = show_batch(
        args.source, args.out, n=args.n, img_size=args.img_size, seed=args.seed, epoch=args.epoch
    )
    print(f"show: wrote {out}")
    return 0


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Add ``check``, ``convert``, ``show`` (alias ``show-batch``) and, when available,
    ``synth`` to the ``detreg data`` sub-parsers. Each sets ``args.func``."""
    p = subparsers.add_parser("check", help="verify every image and label file, print a report")
    p.add_argument("data", help="data yaml")
    p.add_argument("--workers", type=int, default=None, help="threads (default: 2 per CPU, at most 8)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the scan cache")
    p.set_defaults(func=_run_check)

    p = subparsers.add_parser("convert", help="convert a dataset between YOLO txt and COCO json")
    p.add_argument("src", help="data yaml (or a COCO json with --to yolo)")
    p.add_argument("dst", help="output folder")
    p.add_argument("--to", choices=("coco", "yolo"), default="coco", help="target format (default coco)")
    p.set_defaults(func=_run_convert)

    p = subparsers.add_parser(
        "show", aliases=["show-batch"], help="draw an augmented training batch to a PNG"
    )
    p.add_argument("source", help="config yaml or data yaml")
    p.add_argument("--out", default="batch.png", help="output PNG (default batch.png)")
    p.add_argument("-n", type=int, default=16, help="images (default 16)")
    p.add_argument("--img-size", type=int, default=None, help="override the image size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epoch", type=int, default=0)
    p.set_defaults(func=_run_show)

    try:
        from detreg.data.synth import add_parser as add_synth
    except ImportError:  # the synth module is optional
        return
    add_synth(subparsers)
