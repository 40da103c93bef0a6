"""``detreg-infer`` / ``detreg infer``: run a checkpoint on images, draw the detections, write COCO results.

Images (a folder, recursively; an image; a ``.txt`` list) are read through
:class:`~detreg.data.folder.ImageFolder` with the config's validation pipeline (letterbox,
rect shapes), batched by :func:`~detreg.data.loader.build_dataloader`, predicted with
``model.predict(conf, iou, max_det)`` and mapped back to original pixels. The work dir
gets each image with its boxes drawn (same file name) and ``predictions.json``: a COCO
results list of ``{"image_id", "file_name", "category_id", "bbox": [x, y, w, h],
"score"}`` in original pixels.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detreg.apps import category_ids, check_weights, load_detector, resolve_config
from detreg.apps.common import add_common, add_config_args, add_trust_arg
from detreg.errors import DetregError

DESCRIPTION = "detect objects in images with a checkpoint"


def coco_results(
    dets: np.ndarray, image_id: int, file_name: str, cat_ids: Sequence[int]
) -> list[dict[str, Any]]:
    """COCO results entries of one image: ``dets [n, 6]`` in original pixels."""
    out = []
    for x1, y1, x2, y2, score, c in np.asarray(dets, np.float64).reshape(-1, 6):
        out.append(
            {
                "image_id": int(image_id),
                "file_name": file_name,
                "category_id": int(cat_ids[int(c)]),
                "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                "score": round(float(score), 5),
            }
        )
    return out


def _unique_name(path: str, taken: set[str]) -> str:
    """The file name of ``path``, made unique among ``taken`` (same names in subfolders)."""
    p = Path(path)
    name, n = p.name, 2
    while name in taken:
        name = f"{p.stem}_{n}{p.suffix}"
        n += 1
    taken.add(name)
    return name


def build_source(cfg: Any, source: str, img_size: int, batch_size: int, stride: int, names: list[str]) -> Any:
    """An :class:`~detreg.data.folder.ImageFolder` of ``source`` with the config's val pipeline."""
    from detreg.config import run_context
    from detreg.data.pipelines import val_transforms
    from detreg.registry import DATASETS

    data = cfg.data.get("data") or {}
    val = data.get("val") if isinstance(data.get("val"), dict) else {}
    spec: dict[str, Any] = {
        "type": "ImageFolder",
        "img_path": source,
        "transforms": val.get("transforms") or val_transforms(),
        "rect": bool(val.get("rect", False)),
        "rect_pad": val.get("rect_pad", 0.5),
        "stride": stride,
        "img_size": img_size,
        "class_names": names,
        "batch_size": batch_size,
    }
    ctx = {k: v for k, v in run_context(cfg.data).items() if k not in ("class_names", "num_classes")}
    return DATASETS.build(spec, "source", ctx)


def infer(
    cfg: Any,
    weights: str | Path,
    source: str,
    out_dir: str | Path,
    conf_thres: float = 0.25,
    iou_thres: float = 0.65,
    max_det: int = 300,
    batch_size: int = 8,
    img_size: int | None = None,
    device: str | None = None,
    workers: int | None = None,
    save_images: bool = True,
) -> dict[str, Any]:
    """Predict ``source`` with ``weights``; write drawn images and ``predictions.json`` to ``out_dir``.

    Returns ``{"images", "detections", "out_dir", "predictions"}``.
    """
    import cv2
    import torch
    from tqdm import tqdm

    from detreg.config import model_stride
    from detreg.data.draw import draw_boxes
    from detreg.data.io import read_image
    from detreg.data.loader import build_dataloader
    from detreg.engine.runner import pick_device
    from detreg.ops.boxes import scale_boxes

    dev = pick_device(device or cfg.data["train"].get("device", "auto"), -1)
    model, names, _ = load_detector(cfg, weights, dev, fuse=True)
    cat_ids = category_ids(cfg, len(names))
    size = int(img_size or cfg.data["train"]["img_size"])
    stride = max(getattr(model, "strides", [32]))
    multiple = model_stride(cfg.data.get("model")) or stride
    if size % multiple:
        rounded = -(-size // multiple) * multiple
        logging.getLogger("detreg").warning(
            "--img-size %d is not a multiple of the model stride %d: using %d", size, multiple, rounded
        )
        size = rounded
    dataset = build_source(cfg, source, size, batch_size, stride, names)
    n_workers = int(workers if workers is not None else cfg.data["train"].get("workers", 2))
    loader = build_dataloader(dataset, batch_size=batch_size, workers=n_workers, shuffle=False)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    taken: set[str] = set()
    n_images = 0
    with torch.inference_mode():
        for batch in tqdm(loader, desc="infer", unit="batch", disable=None):
            images = batch["img"].to(dev, non_blocking=True).float().div_(255)
            preds = model.predict(images, conf_thres, iou_thres, max_det)
            for det, path, image_id, shape, rp in zip(
                preds, batch["paths"], batch["image_ids"], batch["ori_shapes"], batch["ratio_pad"]
            ):
                det = scale_boxes(det.float().cpu(), rp, shape).numpy()
                name = _unique_name(path, taken)
                results += coco_results(det, image_id, name, cat_ids)
                n_images += 1
                if save_images:
                    img = read_image(path)
                    if img is None:
                        continue
                    drawn = draw_boxes(img, det, names)
                    cv2.imwrite(str(out_dir / name), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
    (out_dir / "predictions.json").write_text(json.dumps(results))
    return {"images": n_images, "detections": len(results), "out_dir": out_dir, "predictions": results}


# ---------------------------------------------------------------------- command
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Config (optional: the checkpoint's), overrides, ``--data`` and the inference options."""
    add_config_args(p)
    add_trust_arg(p)
    add_common(p)
    p.add_argument("--weights", required=True, help="checkpoint (EMA weights preferred)")
    p.add_argument("--source", required=True, help="image folder (recursive), an image, or a .txt list")
    p.add_argument("--conf", type=float, default=0.25, help="score threshold (default 0.25)")
    p.add_argument("--iou", type=float, default=0.65, help="NMS IoU threshold (default 0.65)")
    p.add_argument("--max-det", type=int, default=300, help="detections per image (default 300)")
    p.add_argument("--batch-size", type=int, default=8, help="images per batch (default 8)")
    p.add_argument("--img-size", type=int, default=None, help="inference size (default: train.img_size)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, 0 (default: train.device / auto)")
    p.add_argument("--workers", type=int, default=None, help="loader workers (default: train.workers)")
    p.add_argument("--work-dir", help="output folder (default: a new runs/infer/expN)")
    p.add_argument("--no-save-images", dest="save_images", action="store_false", help="only predictions.json")


def run(args: argparse.Namespace) -> int:
    """Run inference as ``args`` say; prints where the results went."""
    from detreg.engine.runner import next_run_dir

    weights = check_weights(args.weights)
    if args.batch_size < 1:
        raise DetregError(f"--batch-size must be positive, got {args.batch_size}")
    if not Path(args.source).exists():
        raise DetregError(f"--source not found: {args.source}")
    cfg = resolve_config(args)
    out = Path(args.work_dir) if args.work_dir else next_run_dir("runs/infer")
    res = infer(
        cfg,
        weights,
        args.source,
        out,
        args.conf,
        args.iou,
        args.max_det,
        args.batch_size,
        args.img_size,
        args.device,
        args.workers,
        args.save_images,
    )
    print(f"{res['images']} images, {res['detections']} detections -> {res['out_dir']} (predictions.json)")
    return 0
