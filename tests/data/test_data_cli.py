"""``detreg data`` helpers: check, convert (round trip), show / draw_batch, parsers."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from detreg.data.cli import add_parsers, check, convert, show_batch
from detreg.data.draw import draw_batch
from detreg.data.loader import build_dataloader
from detreg.data.yolo import YOLODataset


def _labels(root: Path, split: str) -> dict[str, list[list[float]]]:
    out = {}
    for p in sorted((root / "labels" / split).glob("*.txt")):
        rows = [[float(v) for v in line.split()] for line in p.read_text().splitlines() if line.strip()]
        out[p.stem] = sorted(rows)
    return out


def test_check_reports_and_returns_status(yolo_root: Path, capsys) -> None:
    assert check(yolo_root / "data.yaml") == 0
    out = capsys.readouterr().out
    assert "train: 12 images" in out and "val: 6 images" in out and "0 corrupt" in out
    (yolo_root / "labels" / "train" / "000000.txt").write_text("7 0.5 0.5 0.1 0.1\n")
    assert check(yolo_root / "data.yaml") == 1
    out = capsys.readouterr().out
    assert "1 corrupt" in out and "000000.png: line 1: bad class 7 (nc=3)" in out


def test_convert_round_trip(yolo_root: Path, tmp_path: Path) -> None:
    coco_yaml = convert(yolo_root / "data.yaml", tmp_path / "coco", to="coco")
    assert (tmp_path / "coco" / "annotations" / "instances_train.json").is_file()
    yolo_yaml = convert(coco_yaml, tmp_path / "yolo", to="yolo")
    for split in ("train", "val"):
        a, b = _labels(yolo_root, split), _labels(tmp_path / "yolo", split)
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_allclose(np.array(a[k]), np.array(b[k]), atol=2e-6)
    ds = YOLODataset(str(tmp_path / "yolo" / "images" / "val"), img_size=64, num_classes=3)
    assert len(ds) == 6 and yolo_yaml.is_file()


def test_show_batch_and_draw_batch(yolo_root: Path, tmp_path: Path) -> None:
    out = show_batch(yolo_root / "data.yaml", tmp_path / "batch.png", n=4, img_size=96)
    img = cv2.imread(str(out))
    assert img is not None and img.shape == (192, 192, 3)
    ds = YOLODataset(str(yolo_root / "images" / "val"), img_size=64, class_names=["a", "b", "c"])
    batch = next(iter(build_dataloader(ds, 6, workers=0)))
    grid = draw_batch(batch, ds.class_names)
    assert grid.dtype == np.uint8 and grid.shape == (128, 192, 3)


def test_add_parsers_routes_commands(yolo_root: Path, capsys) -> None:
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(["check", str(yolo_root / "data.yaml"), "--no-cache"])
    assert args.func(args) == 0
    args = parser.parse_args(["show-batch", str(yolo_root / "data.yaml"), "--out", str(yolo_root / "b.png")])
    assert args.func(args) == 0 and (yolo_root / "b.png").is_file()
    assert parser.parse_args(["synth", "x"]).func.__name__ == "run_synth"
