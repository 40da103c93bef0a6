"""YOLOv6/Ultralytics-style data yaml files (``path``, ``train``, ``val``, ``nc``, ``names``).

``format: coco`` describes COCO-json datasets: ``train``/``val`` are then either mappings
``{ann_file: ..., img_dir: ...}`` or image folders with ``train_ann``/``val_ann`` json
paths. YOLOv6's ``is_coco: true`` + ``anno_path`` (val ground truth json) is understood.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from detreg.errors import DetregError

SPLITS = ("train", "val", "test")


def _read(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise DetregError(f"data yaml '{p}' not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        first = str(exc).replace("\n", " ")
        raise DetregError(f"data yaml '{p}' is not valid YAML: {first}") from exc
    if not isinstance(data, dict):
        raise DetregError(
            f"data yaml '{p}' must be a mapping (path/train/val/nc/names), got {type(data).__name__}"
        )
    return data


def _names(data: dict[str, Any], where: str) -> tuple[int, list[str]]:
    names = data.get("names")
    nc = data.get("nc")
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError) as exc:
            raise DetregError(f"{where}: 'names' keys must be class indices 0..n-1") from exc
        if keys != list(range(len(keys))):
            raise DetregError(f"{where}: 'names' keys must be 0..{len(keys) - 1}, got {keys}")
        names = [str(names[k] if k in names else names[str(k)]) for k in keys]
    elif isinstance(names, (list, tuple)):
        names = [str(n) for n in names]
    elif names is not None:
        raise DetregError(f"{where}: 'names' must be a list or a mapping, got {type(names).__name__}")
    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool) or nc < 1):
        raise DetregError(f"{where}: 'nc' must be a positive integer, got {nc!r}")
    if names is None and nc is None:
        raise DetregError(f"{where}: needs 'names' (or 'nc')")
    if names is None:
        names = [f"class{i}" for i in range(nc)]
    if nc is not None and len(names) != nc:
        raise DetregError(f"{where}: 'names' has {len(names)} entries but 'nc' is {nc}")
    return len(names), names


def _resolve(root: Path, value: Any, where: str, key: str) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [_resolve(root, v, where, key) for v in value]
    if isinstance(value, dict):
        return {
            k: _resolve(root, v, where, f"{key}.{k}") if k in ("ann_file", "img_dir", "images") else v
            for k, v in value.items()
        }
    p = Path(os.path.expanduser(str(value)))
    p = p if p.is_absolute() else root / p
    if not p.exists():
        raise DetregError(f"{where}: '{key}' path '{p}' does not exist")
    return str(p)


def load_data_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a data yaml; return it with absolute paths, ``nc`` and ``names`` list.

    Keys out: ``path`` (root), ``train``/``val``/``test`` (resolved), ``nc``, ``names``,
    ``format`` (``yolo`` or ``coco``), ``train_ann``/``val_ann``/``anno_path`` when given,
    ``yaml_file``.
    """
    data = _read(path)
    where = str(path)
    yaml_dir = Path(path).resolve().parent
    root = Path(os.path.expanduser(str(data.get("path") or ".")))
    root = root if root.is_absolute() else (yaml_dir / root).resolve()
    nc, names = _names(data, where)
    out: dict[str, Any] = dict(data)
    out.update(path=str(root), nc=nc, names=names, yaml_file=str(Path(path).resolve()))
    fmt = str(data.get("format", "yolo")).lower()
    if fmt not in ("yolo", "coco"):
        raise DetregError(f"{where}: 'format' must be 'yolo' or 'coco', got {fmt!r}")
    out["format"] = fmt
    if data.get("train") is None and data.get("val") is None:
        raise DetregError(f"{where}: needs 'train' and/or 'val'")
    for key in (*SPLITS, "train_ann", "val_ann", "test_ann", "anno_path"):
        if data.get(key) is not None:
            out[key] = _resolve(root, data[key], where, key)
    return out


def _source(data: dict[str, Any], split: str) -> dict[str, Any] | None:
    value = data.get(split)
    if value is None:
        return None
    if data["format"] == "coco":
        if isinstance(value, dict):
            ann = value.get("ann_file")
            img_dir = value.get("img_dir") or value.get("images")
        else:
            ann, img_dir = data.get(f"{split}_ann"), value
        if ann is None:
            raise DetregError(
                f"{data['yaml_file']}: format coco needs '{split}_ann' (or {split}: {{ann_file: ...}})"
            )
        src = {"type": "COCODataset", "ann_file": ann}
        if img_dir:
            src["img_dir"] = img_dir
        return src
    src = {"type": "YOLODataset", "img_path": value, "class_names": data["names"]}
    if data.get("cat_ids") is not None:
        src["cat_ids"] = [int(c) for c in data["cat_ids"]]
    if split == "val" and data.get("is_coco") and data.get("anno_path"):
        src["ann_file"] = data["anno_path"]
    return src


def data_section_from_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """A config ``data:`` fragment: ``{"nc", "names", "train": {type + source}, "val": ...}``.

    Only source arguments are set, so it merges under a user's ``data:`` section and
    keeps their transforms and loader settings.
    """
    data = load_data_yaml(path)
    out: dict[str, Any] = {"nc": data["nc"], "names": data["names"]}
    for split in SPLITS:
        src = _source(data, split)
        if src is not None:
            out[split] = src
    return out
