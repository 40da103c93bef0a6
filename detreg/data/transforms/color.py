"""Photometric transforms (boxes untouched): HSVAugment and the strong semi-supervised augs
ColorJitter, GaussianBlur, RandomGrayscale, RandomErasing."""

from __future__ import annotations

import cv2
import numpy as np

from detreg.data.transforms.base import Sample, Transform, TransformContext
from detreg.registry import TRANSFORMS


def _with_img(sample: Sample, img: np.ndarray) -> Sample:
    out = dict(sample)
    out["img"] = img
    return out


@TRANSFORMS.register()
class HSVAugment(Transform):
    """Multiply hue, saturation and value by gains U(1±g) through lookup tables (hue mod 180)."""

    def __init__(self, hgain: float = 0.015, sgain: float = 0.7, vgain: float = 0.4) -> None:
        self.hgain = hgain
        self.sgain = sgain
        self.vgain = vgain

    def __call__(self, sample: Sample, ctx: TransformContext) -> Sample:
        if not (self.hgain or self.sgain or self.vgain):
            return sample
        g = ctx.rng.uniform(-1, 1, 3) * np.array([self.hgain, self.sgain, self.vgain]) + 1
        h, s, v = cv2.split(cv2.cvtColor(sample["img"], cv2.COLOR_RGB2HSV))
        x = np.arange(256, dtype=np.float32)
        lut_h = ((x * g[0]) % 180).astype(np.uint8)
        lut_s = np.clip(x * g[1], 0, 255).astype(np.uint8)
        lut_v = np.clip(x * g[2], 0, 255).astype(np.uint8)
        hsv = cv2.merge((cv2.LUT(h, lut_h), cv2.LUT(s, lut_s), cv2.LUT(v, lut_v)))
        return _with_img(sample, cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


def _gray(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)


@TRANSFORMS.register()
class ColorJitter(Transform):
    """With probability ``prob``, jitter brightness, contrast, saturation (factors U(1±x)) and
    hue (shift U(±hue) of a turn), in a random order."""

    def __init__(
        self,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        hue: float = 0.1,
        prob: float = 0.8,
    ) -> None:
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
        self.prob = prob

    def __call__(self, sample: Sample, ctx: TransformContext) -> Sample:
        if ctx.rng.random() >= self.prob:
            return sample
        img = sample["img"].astype(np.float32)
        for op in ctx.rng.permutation(4):
            if op == 0 and self.brightness:
                img = img * ctx.rng.uniform(1 - self.brightness, 1 + self.brightness)
            elif op == 1 and self.contrast:
                mean = _gray(np.clip(img, 0, 255).astype(np.uint8)).mean()
                img = (img - mean) * ctx.rng.uniform(1 - self.contrast, 1 + self.contrast) + mean
            elif op == 2 and self.saturation:
                gray = _gray(np.clip(img, 0, 255).astype(np.uint8))[..., None]
                img = (img - gray) * ctx.rng.uniform(1 - self.saturation, 1 + self.saturation) + gray
            elif op == 3 and self.hue:
                hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
                shift = int(round(ctx.rng.uniform(-self.hue, self.hue) * 180))
                hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + shift) % 180).astype(np.uint8)
                img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)
        return _with_img(sample, np.clip(img, 0, 255).astype(np.uint8))


@TRANSFORMS.register()
class GaussianBlur(Transform):
    """With probability ``prob``, blur with a Gaussian of sigma U(``sigma``)."""

    def __init__(self, prob: float = 0.5, sigma: tuple[float, float] = (0.1, 2.0)) -> None:
        self.prob = prob
        self.sigma = tuple(sigma)

    def __call__(self, sample: Sample, ctx: TransformContext) -> Sample:
        if ctx.rng.random() >= self.prob:
            return sample
        sigma = float(ctx.rng.uniform(*self.sigma))
        return _with_img(sample, cv2.GaussianBlur(sample["img"], (0, 0), sigmaX=sigma, sigmaY=sigma))


@TRANSFORMS.register()
class RandomGrayscale(Transform):
    """With probability ``prob``, replace the image by its grey level (3 equal channels)."""

    def __init__(self, prob: float = 0.2) -> None:
        self.prob = prob

    def __call__(self, sample: Sample, ctx: TransformContext) -> Sample:
        if ctx.rng.random() >= self.prob:
            return sample
        gray = cv2.cvtColor(sample["img"], cv2.COLOR_RGB2GRAY)
        return _with_img(sample, cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB))


@TRANSFORMS.register()
class RandomErasing(Transform):
    """Up to ``count`` times, each with probability ``prob``, fill a rectangle covering a
    fraction U(``scale``) of the image with aspect U(``ratio``) (log-uniform) by random noise
    (``value: random``) or a constant grey level. Boxes are kept."""

    def __init__(
        self,
        prob: float = 0.7,
        scale: tuple[float, float] = (0.02, 0.2),
        ratio: tuple[float, float] = (0.3, 3.3),
        value: int | str = "random",
        count: int = 1,
    ) -> None:
        self.prob = prob
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.value = value
        self.count = count

    def __call__(self, sample: Sample, ctx: TransformContext) -> Sample:
        img = None
        h, w = sample["img"].shape[:2]
        for _ in range(self.count):
            if ctx.rng.random() >= self.prob:
                continue
            area = h * w * ctx.rng.uniform(*self.scale)
            aspect = float(np.exp(ctx.rng.uniform(np.log(self.ratio[0]), np.log(self.ratio[1]))))
            eh = min(h, max(1, int(round((area * aspect) ** 0.5))))
            ew = min(w, max(1, int(round((area / aspect) ** 0.5))))
            y0 = int(ctx.rng.integers(0, h - eh + 1))
            x0 = int(ctx.rng.integers(0, w - ew + 1))
            if img is None:
                img = sample["img"].copy()
            if self.value == "random":
                img[y0 : y0 + eh, x0 : x0 + ew] = ctx.rng.integers(0, 256, (eh, ew, 3), dtype=np.uint8)
            else:
                img[y0 : y0 + eh, x0 : x0 + ew] = int(self.value)
        return sample if img is None else _with_img(sample, img)
