"""YOLODataset: YOLOv6/Ultralytics layout (``images/`` -> ``labels/``, ``cls cx cy w h``)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detreg.data.base import BaseDataset, Item
from detreg.data.io import img2label_path, list_images
from detreg.data.scan import scan
from detreg.errors import DetregError
from detreg.registry import DATASETS


def stem_ids(paths: Sequence[str]) -> list[int]:
    """Image ids: the file stems as integers when they all are distinct integers (COCO
    style ``000000397133.jpg``), else the position in the list."""
    stems = [Path(p).stem for p in paths]
    if stems and all(s.isdigit() for s in stems) and len({int(s) for s in stems}) == len(stems):
        return [int(s) for s in stems]
    return list(range(len(paths)))


@DATASETS.register()
class YOLODataset(BaseDataset):
    """Images with YOLO txt labels, from a folder, a ``.txt`` list file or a list of them.

    Every image is verified (see :mod:`detreg.data.scan`); bad ones are reported and
    skipped. ``ann_file`` (optional, e.g. YOLOv6's ``anno_path`` for COCO) supplies the
    ground truth for :meth:`coco_gt`, image ids (matched by file name) and category ids.
    Other arguments: see :class:`detreg.data.base.BaseDataset`; ``cache`` toggles the
    scan cache, ``scan_workers`` its threads.
    """

    def __init__(
        self,
        img_path: str | list[str],
        ann_file: str | None = None,
        root: str | None = None,
        cache: bool = True,
        scan_workers: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.img_path = img_path
        self.root = root
        self.ann_file = ann_file
        self.cache = cache
        self.scan_workers = scan_workers
        num_classes, class_names = kwargs.get("num_classes"), kwargs.get("class_names")
        self._nc_hint = (
            num_classes if num_classes is not None else (len(class_names) if class_names else None)
        )
        self._gt: dict | None = None
        if ann_file is not None:
            if not os.path.isfile(ann_file):
                raise DetregError(f"ann_file '{ann_file}' does not exist")
            with open(ann_file, encoding="utf-8") as f:
                self._gt = json.load(f)
        super().__init__(**kwargs)

    def _load_items(self) -> list[Item]:
        images = list_images(self.img_path, self.root)
        if not images:
            raise DetregError(f"no images found in {self.img_path}")
        labels = [img2label_path(p) for p in images]
        report = scan(images, labels, self._nc_hint, cache_path=self.cache, workers=self.scan_workers)
        self._log_report(report, f"{self.img_path}")
        errors = report.errors(self._nc_hint)
        if errors:  # training on this would silently learn nothing (or skip most of it)
            raise DetregError(f"{self.img_path}: {errors[0]}")
        ids = self._ids_from_gt(images) if self._gt is not None else stem_ids(images)
        items = []
        for res, image_id in zip(report.results, ids):
            if not res.usable or res.shape is None:
                continue
            h, w = res.shape
            lab = res.labels
            boxes = np.stack(
                [
                    (lab[:, 1] - lab[:, 3] / 2) * w,
                    (lab[:, 2] - lab[:, 4] / 2) * h,
                    (lab[:, 1] + lab[:, 3] / 2) * w,
                    (lab[:, 2] + lab[:, 4] / 2) * h,
                ],
                1,
            ).astype(np.float32)
            items.append(Item(res.path, image_id, (h, w), boxes.reshape(-1, 4), lab[:, 0].copy()))
        if not items:
            raise DetregError(f"no usable images in {self.img_path}: {report.summary()}")
        return items

    def _ids_from_gt(self, images: Sequence[str]) -> list[int]:
        assert self._gt is not None
        by_name = {os.path.basename(im["file_name"]): int(im["id"]) for im in self._gt.get("images", [])}
        missing = [p for p in images if os.path.basename(p) not in by_name]
        if missing:
            raise DetregError(f"ann_file {self.ann_file}: no entry for image {os.path.basename(missing[0])}")
        return [by_name[os.path.basename(p)] for p in images]

    def _default_cat_ids(self) -> list[int]:
        if self._gt is not None and self._gt.get("categories"):
            ids = sorted(int(c["id"]) for c in self._gt["categories"])
            if len(ids) == len(self.class_names):
                return ids
        return list(range(len(self.class_names)))

    def coco_gt(self) -> dict[str, Any]:
        """COCO ground truth: from ``ann_file`` (filtered to usable images) or generated."""
        if self._gt is None:
            return super().coco_gt()
        keep = set(self.image_ids)
        gt = dict(self._gt)
        gt["images"] = [im for im in self._gt["images"] if int(im["id"]) in keep]
        gt["annotations"] = [a for a in self._gt.get("annotations", []) if int(a["image_id"]) in keep]
        return gt
