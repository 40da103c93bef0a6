"""The dataset base class: loading, the transform pipeline, rect shapes, COCO ground truth.

Subclasses only say *what* the images and labels are (:meth:`BaseDataset._load_items`);
this class turns an index into a sample. ``dataset[i]`` (or ``dataset[SampleKey(...)]``,
what the loader's sampler yields) returns a finished sample dict: ``img`` uint8 HWC RGB
of the target shape, ``boxes`` xyxy pixels, ``cls``, ``path``, ``image_id``,
``ori_shape``, ``ratio_pad`` (see :mod:`detreg.data.transforms.base`).

Randomness: every sample uses ``np.random.default_rng([seed, epoch, index])``. The loader's
sampler reads ``epoch``, ``seed`` and the disabled transforms from this (main-process)
object when a pass starts and sends them inside each :class:`SampleKey`, so worker
processes (persistent or not) always follow the main process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any, NamedTuple

import numpy as np
import torch.utils.data

from detreg.data.io import jpeg_reduction, read_image
from detreg.data.rect import aspect_order, batch_shapes
from detreg.data.scan import ScanReport
from detreg.data.transforms.base import Sample, TransformContext, transform_name
from detreg.data.transforms.functional import (
    clip_boxes,
    compose_ratio_pad,
    letterbox,
    nonempty,
    resize_long_side,
    scale_boxes,
)
from detreg.errors import DetregError
from detreg.registry import TRANSFORMS, Range

log = logging.getLogger("detreg.data")
MAX_PROBLEM_LINES = 20


class SampleKey(NamedTuple):
    """What the loader's sampler yields: an index plus the pass-wide state it was drawn in."""

    index: int
    epoch: int
    seed: int
    disabled: tuple[str, ...] = ()


@dataclass
class Item:
    """One usable image: boxes are xyxy in original pixels, ``cls`` contiguous indices."""

    path: str
    image_id: int
    shape: tuple[int, int]  # original (h, w)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    cls: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))


class _LoadError(Exception):
    pass


def resolve_names(
    class_names: Sequence[str] | Mapping[int, str] | None, num_classes: int | None
) -> tuple[list[str], int | None]:
    """Class names as a list and the class count (either may be inferred from the other)."""
    if isinstance(class_names, Mapping):
        keys = sorted(int(k) for k in class_names)
        if keys != list(range(len(keys))):
            raise DetregError(f"class_names keys must be 0..{len(keys) - 1}, got {keys}")
        class_names = [str(class_names[k]) for k in keys]  # type: ignore[index]
    names = [str(n) for n in class_names] if class_names is not None else None
    if names is not None and num_classes is not None and len(names) != num_classes:
        raise DetregError(f"class_names has {len(names)} entries but num_classes is {num_classes}")
    if names is None and num_classes is not None:
        names = [f"class{i}" for i in range(num_classes)]
    return names or [], (len(names) if names else num_classes)


class BaseDataset(torch.utils.data.Dataset):
    """Common machinery of the detreg datasets (not registered itself).

    Args (shared by every dataset): ``transforms`` (list of built transforms), ``img_size``
    (long side after loading; the square output size), ``class_names``/``num_classes``,
    ``cat_ids`` (class index -> COCO category id), ``rect`` (aspect-sorted rectangular
    batches, padding ``rect_pad``, shapes multiple of ``stride``, grouped ``batch_size`` at
    a time), ``cache_ram`` (keep resized images in memory), ``reduced_decode`` (decode a
    JPEG at 1/2, 1/4 or 1/8 of its size when that still covers ``img_size``: 640 px photos
    at 320 cost about a quarter of the decode), ``seed``.
    """

    def __init__(
        self,
        transforms: Annotated[list | None, TRANSFORMS] = None,
        img_size: Annotated[int, Range(min=1)] = 640,
        class_names: Sequence[str] | Mapping[int, str] | None = None,
        num_classes: int | None = None,
        cat_ids: Sequence[int] | None = None,
        rect: bool = False,
        rect_pad: float = 0.5,
        batch_size: int | None = None,
        stride: Annotated[int, Range(min=1)] = 32,
        cache_ram: bool = False,
        reduced_decode: bool = True,
        seed: int = 0,
    ) -> None:
        self.transforms = list(transforms or [])
        self.img_size = int(img_size)
        self.class_names, self.num_classes = resolve_names(class_names, num_classes)
        self.rect = bool(rect)
        self.rect_pad = rect_pad
        self.stride = stride
        self.seed = int(seed)
        self.reduced_decode = bool(reduced_decode)
        self.epoch = 0
        self._disabled: set[str] = set()
        self.report: ScanReport | None = None
        self.items: list[Item] = self._load_items()
        if not self.class_names:
            top = max((int(i.cls.max()) + 1 for i in self.items if len(i.cls)), default=0)
            self.class_names, self.num_classes = resolve_names(None, self.num_classes or top)
        self.cat_ids = list(cat_ids) if cat_ids is not None else self._default_cat_ids()
        if len(self.cat_ids) != len(self.class_names):
            raise DetregError(f"cat_ids has {len(self.cat_ids)} entries for {len(self.class_names)} classes")
        self._shapes: list[tuple[int, int]] | None = None
        if self.rect:
            order = aspect_order([i.shape for i in self.items])
            self.items = [self.items[k] for k in order]
            self.configure_rect(batch_size or 1)
        self._ram: list[np.ndarray] | None = None
        if cache_ram:
            self.cache_images()

    # ----------------------------------------------------------------- subclass hooks
    def _load_items(self) -> list[Item]:
        raise NotImplementedError

    def _default_cat_ids(self) -> list[int]:
        return list(range(len(self.class_names)))

    def coco_gt(self) -> dict:
        """COCO-format ground truth (original pixels) of the usable images."""
        images, anns = [], []
        for item in self.items:
            h, w = item.shape
            images.append(
                {"id": item.image_id, "file_name": os.path.basename(item.path), "height": h, "width": w}
            )
            for box, c in zip(item.boxes, item.cls):
                x1, y1, x2, y2 = (float(v) for v in box)
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": item.image_id,
                        "category_id": self.cat_ids[int(c)],
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "area": (x2 - x1) * (y2 - y1),
                        "iscrowd": 0,
                    }
                )
        images.sort(key=lambda d: d["id"])
        cats = [{"id": cid, "name": n} for cid, n in zip(self.cat_ids, self.class_names)]
        return {"images": images, "annotations": anns, "categories": cats}

    # ----------------------------------------------------------------- state
    def __len__(self) -> int:
        return len(self.items)

    @property
    def image_ids(self) -> list[int]:
        """Image ids in dataset order (the ids used in :meth:`coco_gt`)."""
        return [i.image_id for i in self.items]

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that seeds augmentation (takes effect from the next pass)."""
        self.epoch = int(epoch)

    def disable_transforms(self, names: Iterable[str]) -> None:
        """Switch transforms off by registered type name (e.g. ``["Mosaic", "MixUp"]``)."""
        names = [names] if isinstance(names, str) else list(names)
        known = {transform_name(t) for t in self.all_transforms()}
        unknown = [n for n in names if n not in known]
        if unknown:
            log.info("disable_transforms: %s not in this pipeline (%s)", unknown, sorted(known))
        self._disabled.update(names)

    def enable_transforms(self, names: Iterable[str] | None = None) -> None:
        """Switch transforms back on (all of them when ``names`` is None)."""
        if names is None:
            self._disabled.clear()
        else:
            self._disabled.difference_update([names] if isinstance(names, str) else names)

    @property
    def disabled_transforms(self) -> tuple[str, ...]:
        """Names of the transforms switched off, sorted."""
        return tuple(sorted(self._disabled))

    def all_transforms(self) -> list[Any]:
        """Every transform this dataset may run."""
        return list(self.transforms)

    def key(self, index: int) -> SampleKey:
        """The key that ``dataset[key]`` would use for ``index`` in the current state."""
        return SampleKey(int(index), self.epoch, self.seed, self.disabled_transforms)

    # ----------------------------------------------------------------- rect and RAM cache
    def configure_rect(self, batch_size: int) -> None:
        """Recompute rect batch shapes for ``batch_size`` (the loader calls this)."""
        if not self.rect:
            return
        self._shapes = batch_shapes(
            [i.shape for i in self.items], batch_size, self.img_size, self.stride, self.rect_pad
        )

    def target_shape(self, index: int) -> tuple[int, int]:
        """The ``(h, w)`` sample ``index`` ends with."""
        if self._shapes is not None:
            return self._shapes[index]
        return (self.img_size, self.img_size)

    def cache_images(self, threads: int = 8) -> bool:
        """Load every image (resized) into memory, if it fits in half the free RAM."""
        need = sum(h * w * 3 * (self.img_size / max(h, w)) ** 2 for h, w in (i.shape for i in self.items))
        free = _available_memory()
        if free is not None and need > 0.5 * free:
            log.warning("cache_ram: %.1f GB needed, %.1f GB free; not caching", need / 1e9, free / 1e9)
            return False
        with ThreadPoolExecutor(max_workers=threads) as pool:
            self._ram = list(pool.map(self._read_resized, range(len(self.items))))
        return True

    # ----------------------------------------------------------------- loading
    def _read_resized(self, index: int) -> np.ndarray | None:
        item = self.items[index]
        reduce = jpeg_reduction(item.path, max(item.shape), self.img_size) if self.reduced_decode else 1
        img = read_image(item.path, reduce)
        if img is not None and reduce > 1 and max(img.shape[:2]) < self.img_size:
            img = read_image(item.path)  # the recorded size was wrong: never upscale a reduced decode
        if img is None:
            return None
        return resize_long_side(img, self.img_size)[0]

    def load_sample(self, index: int) -> Sample:
        """Sample ``index`` as loaded: long side resized to ``img_size``, no augmentation."""
        item = self.items[index]
        img = self._ram[index] if self._ram is not None else None
        if img is None:
            img = self._read_resized(index)
            if img is None:
                raise _LoadError(item.path)
        h0, w0 = item.shape
        ratio = (img.shape[0] / h0, img.shape[1] / w0)
        return {
            "img": img,
            "boxes": scale_boxes(item.boxes.reshape(-1, 4), ratio, (0.0, 0.0)),
            "cls": item.cls.astype(np.float32).copy(),
            "path": item.path,
            "image_id": item.image_id,
            "index": index,
            "ori_shape": item.shape,
            "ratio_pad": (ratio, (0.0, 0.0)),
        }

    def _load_robust(self, index: int) -> Sample:
        for k in range(min(len(self), 16)):
            j = (index + k) % len(self)
            try:
                return self.load_sample(j)
            except _LoadError as exc:
                log.warning("cannot read image %s (changed since the scan?); using another sample", exc)
        raise DetregError("no readable image found; run `detreg data check` on the dataset")

    def _run(self, index: int, until: Any, ctx: TransformContext, disabled: tuple[str, ...]) -> Sample:
        sample = self._load_robust(index)
        for t in self.transforms:
            if t is until:
                break
            if transform_name(t) in disabled:
                continue
            sample = t(sample, ctx)
        return sample

    def context(self, index: int, epoch: int, seed: int, disabled: tuple[str, ...]) -> TransformContext:
        """The transform context of one sample."""
        return TransformContext(
            rng=np.random.default_rng([seed, epoch, index]),
            img_size=self.img_size,
            shape=self.target_shape(index),
            epoch=epoch,
            index=index,
            num_samples=len(self),
            loader=self._load_robust,
            runner=lambda i, until, c: self._run(i, until, c, disabled),
        )

    def __getitem__(self, key: int | SampleKey) -> Sample:
        if isinstance(key, tuple):
            index, epoch, seed, disabled = key
        else:
            index, epoch, seed, disabled = int(key), self.epoch, self.seed, self.disabled_transforms
        if index < 0:
            index += len(self)
        ctx = self.context(index, epoch, seed, tuple(disabled))
        sample = self._run(index, None, ctx, tuple(disabled))
        return finalize(sample, ctx.shape)

    # ----------------------------------------------------------------- reporting
    def _log_report(self, report: ScanReport, what: str) -> None:
        self.report = report
        bad = report.counts["corrupt"] or report.counts["fixed"]
        log.log(logging.WARNING if bad else logging.INFO, "%s: %s", what, report.summary())
        lines = report.problems()
        for line in lines[:MAX_PROBLEM_LINES]:
            log.warning("  %s", line)
        if len(lines) > MAX_PROBLEM_LINES:
            log.warning("  ... and %d more (see `detreg data check`)", len(lines) - MAX_PROBLEM_LINES)


def finalize(sample: Sample, shape: tuple[int, int]) -> Sample:
    """Make a sample meet the batch contract: exact ``shape``, clipped non-empty boxes."""
    img = sample["img"]
    boxes = sample["boxes"]
    if img.shape[:2] != tuple(shape):
        img, ratio, pad = letterbox(img, shape)
        boxes = scale_boxes(boxes, ratio, pad)
        if "ratio_pad" in sample:
            sample = dict(sample, ratio_pad=compose_ratio_pad(sample["ratio_pad"], (ratio, pad)))
    boxes = clip_boxes(np.asarray(boxes, np.float32).reshape(-1, 4).copy(), shape)
    keep = nonempty(boxes)
    out = dict(sample)
    out.update(
        img=np.ascontiguousarray(img), boxes=boxes[keep], cls=np.asarray(sample["cls"], np.float32)[keep]
    )
    if "img_strong" in out and out["img_strong"].shape[:2] != tuple(shape):
        out["img_strong"] = letterbox(out["img_strong"], shape)[0]
    return out


def _available_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
