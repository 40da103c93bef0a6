"""Multi-image transforms: Mosaic (4 images on a 2x canvas) and MixUp (blend two samples)."""

from __future__ import annotations

import numpy as np

from detreg.data.transforms.base import Sample, Transform, TransformContext, size_of
from detreg.data.transforms.functional import PAD_VALUE, clip_boxes, letterbox, nonempty, scale_boxes
from detreg.registry import TRANSFORMS


def _placement(i: int, xc: int, yc: int, w: int, h: int, s2: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Canvas region ``(x1, y1, x2, y2)`` and image region for quadrant ``i`` around (xc, yc)."""
    if i == 0:  # top-left: the image's bottom-right corner touches the centre
        a = (max(xc - w, 0), max(yc - h, 0), xc, yc)
        b = (w - (a[2] - a[0]), h - (a[3] - a[1]), w, h)
    elif i == 1:  # top-right
        a = (xc, max(yc - h, 0), min(xc + w, s2), yc)
        b = (0, h - (a[3] - a[1]), a[2] - a[0], h)
    elif i == 2:  # bottom-left
        a = (max(xc - w, 0), yc, xc, min(yc + h, s2))
        b = (w - (a[2] - a[0]), 0, w, a[3] - a[1])
    else:  # bottom-right
        a = (xc, yc, min(xc + w, s2), min(yc + h, s2))
        b = (0, 0, a[2] - a[0], a[3] - a[1])
    return a, b


@TRANSFORMS.register()
class Mosaic(Transform):
    """With probability ``prob``, tile this sample and 3 random others on a 2s x 2s canvas.

    The four images (order shuffled) meet at a centre drawn from U(0.5, 1.5)·s per axis;
    the canvas is filled with ``pad_value``. Follow it with ``RandomAffine`` (which crops
    back to ``img_size``) or ``Letterbox``. Sets ``sample["mosaic"] = True``.
    """

    def __init__(self, prob: float = 1.0, img_size: int | None = None, pad_value: int = PAD_VALUE) -> None:
        self.prob = prob
        self.img_size = img_size
        self.pad_value = pad_value

    def __call__(self, sample: Sample, ctx: TransformContext) -> Sample:
        if self.prob <= 0 or ctx.rng.random() >= self.prob:
            return sample
        s = size_of(self.img_size, ctx)
        others = [ctx.load(int(i)) for i in ctx.rng.integers(0, ctx.num_samples, 3)]
        parts = [sample, *others]
        order = ctx.rng.permutation(4)
        xc, yc = (int(v) for v in ctx.rng.uniform(0.5 * s, 1.5 * s, 2))
        s2 = 2 * s
        canvas = np.full((s2, s2, 3), self.pad_value, dtype=np.uint8)
        boxes, classes = [], []
        ratio_pad = sample.get("ratio_pad", ((1.0, 1.0), (0.0, 0.0)))
        for quadrant, k in enumerate(order):
            part = parts[k]
            img = part["img"]
            h, w = img.shape[:2]
            (x1a, y1a, x2a, y2a), (x1b, y1b, x2b, y2b) = _placement(quadrant, xc, yc, w, h, s2)
            canvas[y1a:y2a, x1a:x2a] = img[y1b:y2b, x1b:x2b]
            shift = (float(x1a - x1b), float(y1a - y1b))
            boxes.append(scale_boxes(part["boxes"], (1.0, 1.0), shift))
            classes.append(part["cls"])
            if k == 0:
                (r, (pw, ph)) = ratio_pad
                ratio_pad = (r, (pw + shift[0], ph + shift[1]))
        all_boxes = clip_boxes(np.concatenate(boxes).reshape(-1, 4), (s2, s2))
        all_cls = np.concatenate(classes).astype(np.float32)
        keep = nonempty(all_boxes)
        out = dict(sample)
        out.update(img=canvas, boxes=all_boxes[keep], cls=all_cls[keep], ratio_pad=ratio_pad, mosaic=True)
        return out


@TRANSFORMS.register()
class MixUp(Transform):
    """With probability ``prob``, blend a mosaic sample with another one (r ~ Beta(alpha, beta)).

    Only samples built by ``Mosaic`` are mixed. The partner is another random index run
    through the transforms listed before this one (so place MixUp after RandomAffine to
    blend two finished mosaics). Labels are concatenated. Sets ``sample["mixup"] = True``.
    """

    def __init__(self, prob: float = 0.0, alpha: float = 32.0, beta: float = 32.0) -> None:
        self.prob = prob
        self.alpha = alpha
        self.beta = beta

    def __call__(self, sample: Sample, ctx: TransformContext) -> Sample:
        if not sample.get("mosaic") or self.prob <= 0 or ctx.rng.random() >= self.prob:
            return sample
        other = ctx.sample(int(ctx.rng.integers(0, ctx.num_samples)), until=self)
        shape = sample["img"].shape[:2]
        o_img, o_boxes = other["img"], other["boxes"]
        if o_img.shape[:2] != shape:
            o_img, ratio, pad = letterbox(o_img, shape)
            o_boxes = scale_boxes(o_boxes, ratio, pad)
        r = float(ctx.rng.beta(self.alpha, self.beta))
        img = sample["img"].astype(np.float32) * r + o_img.astype(np.float32) * (1.0 - r)
        out = dict(sample)
        out.update(
            img=img.round().clip(0, 255).astype(np.uint8),
            boxes=np.concatenate([sample["boxes"], o_boxes]).astype(np.float32),
            cls=np.concatenate([sample["cls"], other["cls"]]).astype(np.float32),
            mixup=True,
        )
        return out
