"""COCODataset: images plus a COCO-format json (``images``, ``annotations``, ``categories``)."""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from detreg.data.base import BaseDataset, Item
from detreg.data.scan import scan
from detreg.errors import DetregError
from detreg.registry import DATASETS

log = logging.getLogger("detreg.data")


def guess_img_dir(ann_file: str) -> str:
    """Image folder of a COCO json: ``<root>/images/<split>`` or ``<root>/<split>``."""
    p = Path(ann_file)
    split = p.stem.replace("instances_", "")
    root = p.parent.parent
    for cand in (root / "images" / split, root / split, p.parent / split):
        if cand.is_dir():
            return str(cand)
    raise DetregError(f"{ann_file}: cannot find its images (tried {root / 'images' / split}); set img_dir")


@DATASETS.register()
class COCODataset(BaseDataset):
    """Images described by a COCO json. Category ids map to contiguous class indices in
    sorted id order (``cat_ids[i]`` gives the id back). Crowd boxes are left out of
    training samples but kept in :meth:`coco_gt`. Images are verified like YOLO ones
    (cache ``<json>.cache.json``); images that fail are skipped everywhere.
    """

    def __init__(
        self,
        ann_file: str,
        img_dir: str | None = None,
        cache: bool = True,
        scan_workers: int | None = None,
        **kwargs: Any,
    ) -> None:
        if not os.path.isfile(ann_file):
            raise DetregError(f"ann_file '{ann_file}' does not exist")
        try:
            with open(ann_file, encoding="utf-8") as f:
                self._gt: dict[str, Any] = json.load(f)
        except ValueError as exc:
            raise DetregError(f"ann_file '{ann_file}' is not valid JSON: {exc}") from exc
        for key in ("images", "categories"):
            if key not in self._gt:
                raise DetregError(f"ann_file '{ann_file}' has no '{key}' list")
        self.ann_file = ann_file
        self.img_dir = img_dir or guess_img_dir(ann_file)
        self.cache = cache
        self.scan_workers = scan_workers
        cats = sorted(self._gt["categories"], key=lambda c: int(c["id"]))
        ids = [int(c["id"]) for c in cats]
        if kwargs.pop("cat_ids", None) is not None:
            raise DetregError(f"{ann_file}: COCODataset takes its category ids from ann_file; drop cat_ids")
        nc = kwargs.pop("num_classes", None)
        if nc is not None and nc != len(ids):
            raise DetregError(f"{ann_file} has {len(ids)} categories but num_classes (data nc) is {nc}")
        names = kwargs.pop("class_names", None)
        names = list(names) if names is not None else [str(c.get("name", c["id"])) for c in cats]
        super().__init__(class_names=names, num_classes=len(ids), cat_ids=ids, **kwargs)

    def _load_items(self) -> list[Item]:
        images = sorted(self._gt["images"], key=lambda im: int(im["id"]))
        paths = [os.path.join(self.img_dir, im["file_name"]) for im in images]
        cache = (self.ann_file + ".cache.json") if self.cache else False
        report = scan(paths, None, None, cache_path=cache, workers=self.scan_workers)
        self._log_report(report, self.ann_file)
        cat_index = {
            int(c["id"]): i for i, c in enumerate(sorted(self._gt["categories"], key=lambda c: int(c["id"])))
        }
        per_image: dict[int, list[dict]] = defaultdict(list)
        for a in self._gt.get("annotations", []):
            per_image[int(a["image_id"])].append(a)
        items, dropped = [], 0
        for im, res in zip(images, report.results):
            if not res.usable or res.shape is None:
                continue
            h, w = res.shape
            if (int(im.get("height", h)), int(im.get("width", w))) != (h, w):
                log.warning(
                    "%s: json says %sx%s, file is %sx%s", res.path, im.get("width"), im.get("height"), w, h
                )
            boxes, cls = [], []
            for a in per_image.get(int(im["id"]), []):
                if a.get("iscrowd", 0) or int(a["category_id"]) not in cat_index:
                    continue
                x, y, bw, bh = (float(v) for v in a["bbox"])
                x1, y1, x2, y2 = max(x, 0.0), max(y, 0.0), min(x + bw, w), min(y + bh, h)
                if x2 - x1 <= 0 or y2 - y1 <= 0:
                    dropped += 1
                    continue
                boxes.append([x1, y1, x2, y2])
                cls.append(cat_index[int(a["category_id"])])
            items.append(
                Item(
                    res.path,
                    int(im["id"]),
                    (h, w),
                    np.array(boxes, np.float32).reshape(-1, 4),
                    np.array(cls, np.float32),
                )
            )
        if dropped:
            log.warning("%s: %d degenerate or outside boxes left out", self.ann_file, dropped)
        if not items:
            raise DetregError(f"no usable images for {self.ann_file}: {report.summary()}")
        return items

    def coco_gt(self) -> dict[str, Any]:
        """The json's ground truth, limited to the usable images (crowd boxes included)."""
        keep = set(self.image_ids)
        gt = dict(self._gt)
        gt["images"] = [im for im in self._gt["images"] if int(im["id"]) in keep]
        gt["annotations"] = [a for a in self._gt.get("annotations", []) if int(a["image_id"]) in keep]
        for i, a in enumerate(gt["annotations"]):
            if "id" not in a:
                gt["annotations"][i] = dict(a, id=i + 1)
        return gt
