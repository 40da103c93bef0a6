"""Every geometric transform keeps boxes exactly on the drawn pixels; probabilities hold."""

from __future__ import annotations

import numpy as np
import pytest
from data_helpers import COLORS, draw_image, pixel_extent

from detreg.data.transforms import (
    ColorJitter,
    GaussianBlur,
    HSVAugment,
    Letterbox,
    MixUp,
    Mosaic,
    RandomAffine,
    RandomErasing,
    RandomFlip,
    RandomGrayscale,
    Resize,
    standalone_context,
)
from detreg.data.transforms.base import TransformContext

TOL = 1.6  # pixels


def make_sample(seed: int, h: int = 90, w: int = 120, n: int = 2) -> dict:
    rng = np.random.default_rng(seed)
    img, boxes = draw_image(rng, h, w, n, len(COLORS))
    return {
        "img": img,
        "boxes": np.array([b[1:] for b in boxes], np.float32).reshape(-1, 4),
        "cls": np.array([b[0] for b in boxes], np.float32),
        "path": f"{seed}.png",
        "image_id": seed,
        "index": seed,
        "ori_shape": (h, w),
        "ratio_pad": ((1.0, 1.0), (0.0, 0.0)),
    }


def assert_boxes_on_pixels(sample: dict, tol: float = TOL, rotated: bool = False) -> None:
    """Every box frames its drawn blob within ``tol`` px. A rotated box cut by the image
    border is the clipped min/max of its warped corners (YOLOv6's rule), which may be
    larger than the visible part: there only containment is required."""
    img = sample["img"]
    h, w = img.shape[:2]
    assert len(sample["boxes"]) == len(sample["cls"])
    for box, c in zip(sample["boxes"], sample["cls"]):
        ext = np.array(pixel_extent(img, COLORS[int(c)], window=tuple(box)) or [np.nan] * 4)
        assert not np.isnan(ext).any(), f"no pixels of class {c} around {box}"
        at_border = box[0] <= 0.5 or box[1] <= 0.5 or box[2] >= w - 0.5 or box[3] >= h - 0.5
        if rotated and at_border:
            assert (ext[:2] >= box[:2] - tol).all() and (ext[2:] <= box[2:] + tol).all(), (box.tolist(), ext)
        else:
            assert np.abs(ext - box).max() <= tol, (box.tolist(), ext)


def ctx_for(seed: int, size: int = 128, shape=None, samples=None) -> TransformContext:
    ctx = standalone_context(size, seed, shape)
    if samples is not None:
        ctx.loader = lambda i: make_sample(100 + i)
        ctx.num_samples = samples
    return ctx


@pytest.mark.parametrize(
    "transform",
    [
        RandomFlip(horizontal=1.0),
        RandomFlip(horizontal=0.0, vertical=1.0),
        Letterbox(),
        Letterbox(scaleup=False, center=False),
        Resize(),
        Resize(keep_ratio=False),
        RandomAffine(degrees=0, translate=0.1, scale=0.5, shear=0),
        RandomAffine(degrees=30, translate=0.2, scale=0.3, shear=0),
        RandomAffine(degrees=0, translate=0.0, scale=0.0, shear=10),
    ],
    ids=repr,
)
def test_geometric_transforms_keep_boxes_exact(transform) -> None:
    checked = 0
    for seed in range(6):
        sample = make_sample(seed)
        out = transform(sample, ctx_for(seed))
        assert out["img"].dtype == np.uint8
        rotated = isinstance(transform, RandomAffine) and bool(transform.degrees or transform.shear)
        assert_boxes_on_pixels(out, tol=2.0 if isinstance(transform, RandomAffine) else TOL, rotated=rotated)
        checked += len(out["boxes"])
        assert sample["img"].shape == (90, 120, 3)  # input untouched
    assert checked > 0


def test_letterbox_ratio_pad_maps_back_to_original() -> None:
    sample = make_sample(0)
    out = Letterbox()(sample, ctx_for(0, size=160))
    (rh, rw), (pw, ph) = out["ratio_pad"]
    back = out["boxes"].copy()
    back[:, [0, 2]] = (back[:, [0, 2]] - pw) / rw
    back[:, [1, 3]] = (back[:, [1, 3]] - ph) / rh
    np.testing.assert_allclose(back, sample["boxes"], atol=1e-3)
    assert out["img"].shape == (160, 160, 3)


def test_mosaic_then_affine_keeps_boxes_exact() -> None:
    mosaic, affine = Mosaic(prob=1.0), RandomAffine(degrees=10, translate=0.1, scale=0.4, shear=3)
    n_boxes = 0
    for seed in range(6):
        ctx = ctx_for(seed, size=128, samples=20)
        out = mosaic(make_sample(seed), ctx)
        assert out["mosaic"] and out["img"].shape == (256, 256, 3)
        assert_boxes_on_pixels(out)
        out = affine(out, ctx)
        assert out["img"].shape == (128, 128, 3)
        assert_boxes_on_pixels(out, tol=2.0, rotated=True)
        n_boxes += len(out["boxes"])
    assert n_boxes > 6


def test_mixup_concatenates_labels_and_blends() -> None:
    mixup = MixUp(prob=1.0)
    base = Mosaic(prob=1.0)(make_sample(0), ctx_for(0, samples=10))
    ctx = ctx_for(1, samples=10)
    out = mixup(dict(base), ctx)
    assert out["mixup"] and len(out["boxes"]) >= len(base["boxes"])
    assert not np.array_equal(out["img"], base["img"])
    plain = make_sample(3)
    assert mixup(plain, ctx) is plain  # never on non-mosaic samples


@pytest.mark.parametrize(
    "transform",
    [
        HSVAugment(0.5, 0.7, 0.4),
        ColorJitter(prob=1.0),
        GaussianBlur(prob=1.0),
        RandomGrayscale(prob=1.0),
        RandomErasing(prob=1.0),
    ],
    ids=repr,
)
def test_photometric_transforms_keep_boxes_and_shape(transform) -> None:
    sample = make_sample(5)
    out = transform(sample, ctx_for(5))
    assert out["img"].shape == sample["img"].shape and out["img"].dtype == np.uint8
    np.testing.assert_array_equal(out["boxes"], sample["boxes"])
    assert not np.array_equal(out["img"], sample["img"])


def test_transforms_use_only_the_context_rng() -> None:
    t = [Mosaic(prob=0.5), RandomAffine(degrees=5), MixUp(prob=0.5), HSVAugment(), RandomFlip()]

    def run(seed: int) -> dict:
        s, ctx = make_sample(1), ctx_for(seed, samples=10)
        ctx.runner = lambda i, until, c: make_sample(100 + i)
        for tr in t:
            s = tr(s, ctx)
        return s

    np.random.seed(0)
    a = run(7)
    np.random.seed(123)
    b = run(7)
    np.testing.assert_array_equal(a["img"], b["img"])
    np.testing.assert_array_equal(a["boxes"], b["boxes"])


def test_mosaic_and_mixup_probabilities(yolo_root) -> None:
    from detreg.data.yolo import YOLODataset

    ds = YOLODataset(
        str(yolo_root / "images" / "train"),
        img_size=64,
        transforms=[Mosaic(prob=0.5), MixUp(prob=0.5)],
        class_names=["a", "b", "c"],
    )
    flags = []
    for epoch in range(17):
        ds.set_epoch(epoch)
        flags += [(s.get("mosaic", False), s.get("mixup", False)) for s in (ds[i] for i in range(len(ds)))]
    flags = flags[:200]
    n_mosaic = sum(m for m, _ in flags)
    n_mix = sum(x for _, x in flags)
    assert 70 <= n_mosaic <= 130  # 0.5 * 200 ± 4 sigma
    assert all(m for m, x in flags if x)  # mixup only on mosaics
    assert 0.3 * n_mosaic <= n_mix <= 0.7 * n_mosaic
