"""Reduced JPEG decoding: a large JPEG is decoded at 1/2, 1/4 or 1/8 of its size when that
still covers ``img_size``, and the loaded sample matches the full decode (same shape, same
boxes, nearly the same pixels)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from data_helpers import draw_image

from detreg.data.io import jpeg_reduction, read_image


@pytest.mark.parametrize(
    ("path", "long_side", "target", "factor"),
    [
        ("a.jpg", 1280, 320, 4),
        ("a.JPEG", 2560, 320, 8),
        ("a.jpg", 639, 320, 1),  # 639 // 2 = 319 < 320: decoding at half would upsample
        ("a.jpg", 640, 320, 2),
        ("a.png", 1280, 320, 1),  # only JPEG has a cheap reduced decode
        ("a.jpg", 320, 640, 1),
    ],
)
def test_jpeg_reduction_keeps_the_long_side_at_least_the_target(
    path: str, long_side: int, target: int, factor: int
) -> None:
    assert jpeg_reduction(path, long_side, target) == factor


def _write_jpeg(root: Path, h: int, w: int) -> tuple[Path, list]:
    img, boxes = draw_image(np.random.default_rng(0), h, w, n_boxes=3, nc=3)
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    path = root / "images" / "train" / "big.jpg"
    assert cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    lines = [
        f"{c} {(x1 + x2) / 2 / w} {(y1 + y2) / 2 / h} {(x2 - x1) / w} {(y2 - y1) / h}"
        for c, x1, y1, x2, y2 in boxes
    ]
    (root / "labels" / "train" / "big.txt").write_text("\n".join(lines) + "\n")
    return path, boxes


def _record_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the datasets' ``read_image`` record its ``reduce`` argument in the returned list."""
    import detreg.data.base as base

    factors: list[int] = []

    def spy(path: str, reduce: int = 1):
        factors.append(reduce)
        return read_image(path, reduce)

    monkeypatch.setattr(base, "read_image", spy)
    return factors


def test_read_image_reduced_gives_the_smaller_decode(tmp_path: Path) -> None:
    path, _ = _write_jpeg(tmp_path, 480, 1280)
    assert read_image(str(path)).shape == (480, 1280, 3)
    assert read_image(str(path), 4).shape == (120, 320, 3)
    assert read_image(str(path), 8).shape == (60, 160, 3)


def test_a_dataset_loads_the_same_sample_with_and_without_the_reduced_decode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detreg.registry import DATASETS

    factors = _record_reads(monkeypatch)
    _write_jpeg(tmp_path, 480, 1280)
    cfg = {"type": "YOLODataset", "img_path": str(tmp_path / "images" / "train"), "transforms": []}
    ctx = {"img_size": 320, "seed": 0, "class_names": ["a", "b", "c"]}
    fast = DATASETS.build(cfg, context=ctx)
    full = DATASETS.build({**cfg, "reduced_decode": False}, context=ctx)
    a, b = fast[0], full[0]
    assert factors == [4, 1]  # 1280 px decoded at a quarter for 320, then the full decode
    assert a["img"].shape == b["img"].shape
    np.testing.assert_allclose(a["boxes"], b["boxes"], atol=1e-3)
    diff = np.abs(a["img"].astype(np.int16) - b["img"].astype(np.int16))
    assert diff.mean() < 2.0  # same picture: only the downscaling filter differs (edges)


def test_a_wrong_recorded_size_falls_back_to_the_full_decode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from detreg.registry import DATASETS

    _write_jpeg(tmp_path, 480, 640)
    cfg = {"type": "YOLODataset", "img_path": str(tmp_path / "images" / "train"), "transforms": []}
    ds = DATASETS.build(cfg, context={"img_size": 320, "seed": 0, "class_names": ["a", "b", "c"]})
    item = ds.items[0]
    ds.items[0] = type(item)(**{**vars(item), "shape": (1920, 2560)})  # says 4x larger than it is
    factors = _record_reads(monkeypatch)
    img = ds._read_resized(0)
    # the 1/8 decode (60 x 80) is below img_size: read again in full, never upscale it
    assert factors == [8, 1]
    full = cv2.resize(read_image(str(tmp_path / "images" / "train" / "big.jpg")), (320, 240))
    assert img.shape == full.shape and np.abs(img.astype(int) - full.astype(int)).mean() < 2.0
