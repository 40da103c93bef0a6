"""Convert datasets between YOLO txt labels and COCO json (both directions)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from detreg.data.coco import COCODataset
from detreg.data.data_yaml import load_data_yaml
from detreg.data.yolo import YOLODataset
from detreg.errors import DetregError

SPLITS = ("train", "val", "test")


def _common_dir(paths: list[str]) -> str:
    return os.path.commonpath([os.path.dirname(p) for p in paths]) if paths else "."


def yolo_to_coco(data_yaml: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write ``dst/annotations/instances_<split>.json`` for each split of a YOLO data yaml,
    and ``dst/data.yaml`` (``format: coco``) pointing at the original images."""
    data = load_data_yaml(data_yaml)
    if data["format"] != "yolo":
        raise DetregError(f"{data_yaml}: already format {data['format']}")
    dst = Path(dst)
    (dst / "annotations").mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {
        "path": str(dst.resolve()),
        "format": "coco",
        "nc": data["nc"],
        "names": data["names"],
    }
    for split in SPLITS:
        if data.get(split) is None:
            continue
        ds = YOLODataset(data[split], class_names=data["names"], img_size=32)
        gt = ds.coco_gt()
        img_dir = _common_dir([i.path for i in ds.items])
        by_id = {i.image_id: i.path for i in ds.items}
        for im in gt["images"]:
            im["file_name"] = os.path.relpath(by_id[im["id"]], img_dir)
        ann = dst / "annotations" / f"instances_{split}.json"
        ann.write_text(json.dumps(gt))
        out[split] = {"ann_file": str(ann.resolve()), "img_dir": img_dir}
    yaml_path = dst / "data.yaml"
    yaml_path.write_text(yaml.safe_dump(out, sort_keys=False))
    return yaml_path


def _link(src: str, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    try:
        os.symlink(os.path.abspath(src), dst)
    except OSError:
        shutil.copy2(src, dst)


def coco_to_yolo(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """From a ``format: coco`` data yaml (or one COCO json, written as split ``val``), write
    ``dst/images/<split>`` (symlinks, copies where links fail), ``dst/labels/<split>/*.txt``
    and ``dst/data.yaml``. Crowd boxes are left out; class order = sorted category ids."""
    dst = Path(dst)
    if str(src).endswith(".json"):
        sources = {"val": {"ann_file": str(src), "img_dir": None}}
        names = None
    else:
        data = load_data_yaml(src)
        if data["format"] != "coco":
            raise DetregError(f"{src}: format is {data['format']}, expected coco")
        sources = {}
        for split in SPLITS:
            v = data.get(split)
            if v is None:
                continue
            if isinstance(v, dict):
                sources[split] = {
                    "ann_file": v.get("ann_file"),
                    "img_dir": v.get("img_dir") or v.get("images"),
                }
            else:
                sources[split] = {"ann_file": data.get(f"{split}_ann"), "img_dir": v}
        names = data["names"]
    out: dict[str, Any] = {"path": str(dst.resolve())}
    for split, s in sources.items():
        ds = COCODataset(s["ann_file"], s["img_dir"], img_size=32, class_names=names)
        names = ds.class_names
        for item in ds.items:
            stem = Path(item.path).stem
            _link(item.path, dst / "images" / split / Path(item.path).name)
            h, w = item.shape
            lines = []
            for (x1, y1, x2, y2), c in zip(item.boxes, item.cls):
                cx, cy, bw, bh = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h
                lines.append(f"{int(c)} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
            lbl = dst / "labels" / split / f"{stem}.txt"
            lbl.parent.mkdir(parents=True, exist_ok=True)
            lbl.write_text("\n".join(lines) + ("\n" if lines else ""))
        out[split] = f"images/{split}"
        out["cat_ids"] = ds.cat_ids
    out.update(nc=len(names or []), names=list(names or []))
    yaml_path = dst / "data.yaml"
    yaml_path.write_text(yaml.safe_dump(out, sort_keys=False))
    return yaml_path


def convert(src: str | os.PathLike, dst: str | os.PathLike, to: str = "coco") -> Path:
    """Convert ``src`` (a data yaml, or a COCO json for ``to='yolo'``) into ``dst``; returns
    the new data yaml."""
    if to == "coco":
        return yolo_to_coco(src, dst)
    if to == "yolo":
        return coco_to_yolo(src, dst)
    raise DetregError(f"convert: 'to' must be 'coco' or 'yolo', got {to!r}")
