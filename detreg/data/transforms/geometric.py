"""Deterministic and simple geometric transforms: RandomFlip, Letterbox, Resize."""

from __future__ import annotations

import cv2
import numpy as np

from detreg.data.transforms.base import Sample, Transform, TransformContext, target_shape
from detreg.data.transforms.functional import (
    PAD_VALUE,
    compose_ratio_pad,
    letterbox,
    resize_long_side,
    scale_boxes,
)
from detreg.registry import TRANSFORMS


@TRANSFORMS.register()
class RandomFlip(Transform):
    """Flip left-right with probability ``horizontal`` and up-down with ``vertical``."""

    def __init__(self, horizontal: float = 0.5, vertical: float = 0.0) -> None:
        self.horizontal = horizontal
        self.vertical = vertical

    def __call__(self, sample: Sample, ctx: TransformContext) -> Sample:
        flip_lr = self.horizontal > 0 and ctx.rng.random() < self.horizontal
        flip_ud = self.vertical > 0 and ctx.rng.random() < self.vertical
        if not (flip_lr or flip_ud):
            return sample
        img, boxes = sample["img"], sample["boxes"].copy()
        h, w = img.shape[:2]
        if flip_lr:
            img = img[:, ::-1]
            boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
        if flip_ud:
            img = img[::-1]
            boxes[:, [1, 3]] = h - boxes[:, [3, 1]]
        out = dict(sample)
        out.update(img=np.ascontiguousarray(img), boxes=boxes)
        return out


@TRANSFORMS.register()
class Letterbox(Transform):
    """Fit the image into ``img_size`` (or the rect batch shape) keeping its aspect; pad with
    ``pad_value`` (centred unless ``center`` is false). ``scaleup: false`` only shrinks.
    A no-op when the image already has the target shape."""

    def __init__(
        self,
        img_size: int | None = None,
        scaleup: bool = True,
        center: bool = True,
        pad_value: int = PAD_VALUE,
    ) -> None:
        self.img_size = img_size
        self.scaleup = scaleup
        self.center = center
        self.pad_value = pad_value

    def __call__(self, sample: Sample, ctx: TransformContext) -> Sample:
        shape = target_shape(self.img_size, ctx)
        if sample["img"].shape[:2] == tuple(shape):
            return sample
        img, ratio, pad = letterbox(sample["img"], shape, self.scaleup, self.center, self.pad_value)
        out = dict(sample)
        out.update(img=img, boxes=scale_boxes(sample["boxes"], ratio, pad))
        if "ratio_pad" in sample:
            out["ratio_pad"] = compose_ratio_pad(sample["ratio_pad"], (ratio, pad))
        return out


@TRANSFORMS.register()
class Resize(Transform):
    """Resize to ``img_size``: long side = size with ``keep_ratio`` (no padding), else stretch
    to the target shape. ``scaleup: false`` never enlarges (keep_ratio only)."""

    def __init__(self, img_size: int | None = None, keep_ratio: bool = True, scaleup: bool = True) -> None:
        self.img_size = img_size
        self.keep_ratio = keep_ratio
        self.scaleup = scaleup

    def __call__(self, sample: Sample, ctx: TransformContext) -> Sample:
        img = sample["img"]
        h, w = img.shape[:2]
        shape = target_shape(self.img_size, ctx)
        if self.keep_ratio:
            img, r = resize_long_side(img, max(shape), self.scaleup)
            ratio = (img.shape[0] / h, img.shape[1] / w) if r != 1.0 else (1.0, 1.0)
        else:
            if (h, w) != tuple(shape):
                interp = cv2.INTER_AREA if shape[0] * shape[1] < h * w else cv2.INTER_LINEAR
                img = cv2.resize(img, (shape[1], shape[0]), interpolation=interp)
            ratio = (shape[0] / h, shape[1] / w)
        out = dict(sample)
        out.update(img=img, boxes=scale_boxes(sample["boxes"], ratio, (0.0, 0.0)))
        if "ratio_pad" in sample:
            out["ratio_pad"] = compose_ratio_pad(sample["ratio_pad"], (ratio, (0.0, 0.0)))
        return out
