"""RandomAffine: rotation, scale, shear and translation with exact box handling."""

from __future__ import annotations

import math

import cv2
import numpy as np

from detreg.data.transforms.base import Sample, Transform, TransformContext, target_shape
from detreg.data.transforms.functional import (
    PAD_VALUE,
    box_candidates,
    clip_boxes,
    compose_ratio_pad,
    transform_boxes,
    warp_affine,
)
from detreg.registry import TRANSFORMS


def affine_matrix(
    rng: np.random.Generator,
    in_shape: tuple[int, int],
    out_shape: tuple[int, int],
    degrees: float,
    translate: float,
    scale: float,
    shear: float,
) -> tuple[np.ndarray, float, bool]:
    """``M = T·Sh·R·C`` (3x3), the drawn scale, and whether it is scale+translate only."""
    h, w = in_shape
    oh, ow = out_shape
    c = np.eye(3)
    c[0, 2], c[1, 2] = -w / 2, -h / 2  # input centre to the origin
    angle = rng.uniform(-degrees, degrees) if degrees else 0.0
    s = rng.uniform(1 - scale, 1 + scale) if scale else 1.0
    r = np.eye(3)
    r[:2] = cv2.getRotationMatrix2D(center=(0, 0), angle=angle, scale=s)
    sh = np.eye(3)
    if shear:
        sh[0, 1] = math.tan(math.radians(rng.uniform(-shear, shear)))
        sh[1, 0] = math.tan(math.radians(rng.uniform(-shear, shear)))
    t = np.eye(3)
    t[0, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * ow
    t[1, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * oh
    m = t @ sh @ r @ c
    return m, s, angle == 0.0 and sh[0, 1] == 0.0 and sh[1, 0] == 0.0


@TRANSFORMS.register()
class RandomAffine(Transform):
    """Random rotation (±``degrees``), scale U(1±``scale``), shear (±``shear`` degrees) and
    translation (centre moved to U(0.5±``translate``)·size), output ``img_size`` square (or
    the rect shape), border ``pad_value``.

    Boxes are the min/max of their warped corners, clipped; a box is kept when its width
    and height exceed ``min_wh`` px, it keeps more than ``min_area_ratio`` of its scaled
    area and its aspect ratio stays below ``max_aspect``. The input centre maps to the
    output centre, so a 2s mosaic canvas is cropped to s and an s-sized image is letterboxed.
    """

    def __init__(
        self,
        degrees: float = 0.0,
        translate: float = 0.1,
        scale: float = 0.5,
        shear: float = 0.0,
        img_size: int | None = None,
        pad_value: int = PAD_VALUE,
        min_wh: float = 2.0,
        min_area_ratio: float = 0.1,
        max_aspect: float = 20.0,
    ) -> None:
        self.degrees = degrees
        self.translate = translate
        self.scale = scale
        self.shear = shear
        self.img_size = img_size
        self.pad_value = pad_value
        self.min_wh = min_wh
        self.min_area_ratio = min_area_ratio
        self.max_aspect = max_aspect

    def __call__(self, sample: Sample, ctx: TransformContext) -> Sample:
        img = sample["img"]
        out_shape = target_shape(self.img_size, ctx)
        m, s, simple = affine_matrix(
            ctx.rng, img.shape[:2], out_shape, self.degrees, self.translate, self.scale, self.shear
        )
        warped = warp_affine(img, m, out_shape, self.pad_value)
        boxes = sample["boxes"]
        new = clip_boxes(transform_boxes(boxes, m), out_shape)
        keep = box_candidates(boxes * s, new, self.min_wh, self.min_area_ratio, self.max_aspect)
        out = dict(sample)
        out.update(img=warped, boxes=new[keep], cls=sample["cls"][keep])
        if simple and "ratio_pad" in sample:
            out["ratio_pad"] = compose_ratio_pad(sample["ratio_pad"], ((s, s), (m[0, 2], m[1, 2])))
        return out
