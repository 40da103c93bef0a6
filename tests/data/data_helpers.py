"""Helpers for the data tests: small on-disk datasets: flat grey images with filled rectangles
whose colour encodes the class, so a box can be checked against the drawn pixels."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255)]
BG = 60


def draw_image(rng: np.random.Generator, h: int, w: int, n_boxes: int, nc: int) -> tuple[np.ndarray, list]:
    """RGB image with ``n_boxes`` non-overlapping rectangles; returns (img, [(cls, x1, y1, x2, y2)])."""
    img = np.full((h, w, 3), BG, np.uint8)
    boxes: list = []
    tries = 0
    classes = rng.permutation(nc)  # distinct classes (colours) within one image
    while len(boxes) < n_boxes and tries < 200:
        tries += 1
        bw, bh = int(rng.integers(w // 5, w // 2)), int(rng.integers(h // 5, h // 2))
        x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        if any(
            not (x1 >= b[3] + 2 or x1 + bw + 2 <= b[1] or y1 >= b[4] + 2 or y1 + bh + 2 <= b[2])
            for b in boxes
        ):
            continue
        c = int(classes[len(boxes) % nc])
        img[y1 : y1 + bh, x1 : x1 + bw] = COLORS[c]
        boxes.append((c, x1, y1, x1 + bw, y1 + bh))
    return img, boxes


def write_yolo(
    root: Path, split: str, n: int, nc: int = 3, seed: int = 0, size: int = 96, n_boxes: int = 2
) -> list[tuple[Path, list]]:
    """Write ``n`` PNG images + YOLO labels under ``root/images/split``; return (path, boxes)."""
    rng = np.random.default_rng(seed)
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        h, w = int(rng.integers(size * 3 // 4, size + 1)), int(rng.integers(size * 3 // 4, size + 1))
        img, boxes = draw_image(rng, h, w, n_boxes, nc)
        p = root / "images" / split / f"{i:06d}.png"
        cv2.imwrite(str(p), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        lines = [
            f"{c} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
            for c, x1, y1, x2, y2 in boxes
        ]
        (root / "labels" / split / f"{i:06d}.txt").write_text("\n".join(lines) + "\n")
        out.append((p, boxes))
    return out


def write_data_yaml(root: Path, nc: int = 3, **extra) -> Path:
    """A data yaml for ``root`` (train and val splits)."""
    import yaml

    data = {
        "path": str(root),
        "train": "images/train",
        "val": "images/val",
        "nc": nc,
        "names": [f"c{i}" for i in range(nc)],
        **extra,
    }
    p = root / "data.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def write_coco(root: Path, n: int = 6, cat_ids: tuple[int, ...] = (1, 5, 90), seed: int = 3) -> Path:
    """COCO layout ``root/images/val`` + ``root/annotations/instances_val.json`` with
    non-contiguous category ids, one crowd box per image."""
    rng = np.random.default_rng(seed)
    img_dir = root / "images" / "val"
    img_dir.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n):
        h, w = 80, 100
        img, boxes = draw_image(rng, h, w, 2, len(cat_ids))
        name = f"img_{i}.png"
        cv2.imwrite(str(img_dir / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        image_id = 1000 + 7 * i
        images.append({"id": image_id, "file_name": name, "height": h, "width": w})
        for c, x1, y1, x2, y2 in boxes:
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_id,
                    "category_id": cat_ids[c],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
        anns.append(
            {
                "id": len(anns) + 1,
                "image_id": image_id,
                "category_id": cat_ids[0],
                "bbox": [0, 0, 10, 10],
                "area": 100,
                "iscrowd": 1,
            }
        )
    cats = [{"id": c, "name": f"cat{c}"} for c in reversed(cat_ids)]
    ann = root / "annotations" / "instances_val.json"
    ann.parent.mkdir(parents=True, exist_ok=True)
    ann.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return ann


def pixel_extent(
    img: np.ndarray, color: tuple[int, int, int], window: tuple[float, ...] | None = None
) -> tuple[float, float, float, float] | None:
    """xyxy extent (pixel i covers [i, i+1)) of the pixels closer to ``color`` than to the
    background; with ``window``, of the connected blob that overlaps it most."""
    d_col = np.abs(img.astype(np.int32) - np.array(color)).sum(-1)
    d_bg = np.abs(img.astype(np.int32) - BG).sum(-1)
    mask = d_col < d_bg
    if window is None:
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            return None
        return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)
    # the connected blob that overlaps the box most (neighbours of the same colour ignored)
    x1, y1, x2, y2 = window
    inside = np.zeros_like(mask)
    inside[max(0, int(y1)) : int(np.ceil(y2)), max(0, int(x1)) : int(np.ceil(x2))] = True
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return None
    overlap = np.bincount(labels[inside & mask], minlength=n)
    overlap[0] = 0
    if overlap.max() == 0:
        return None
    ys, xs = np.nonzero(labels == int(overlap.argmax()))
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)
