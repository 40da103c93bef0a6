"""Tests of the built-in synthetic shapes dataset (detreg.data.synth)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from detreg.data.synth import (
    ALL_SHAPES,
    SHAPES,
    STYLES,
    add_parser,
    make_synth_dataset,
    render_image,
    shape_alpha,
)

N_TRAIN, N_VAL, SIZE = 16, 8, 160


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    return make_synth_dataset(out / "a", n_train=N_TRAIN, n_val=N_VAL, size=SIZE, seed=3, workers=2)


def _labels(path: Path) -> np.ndarray:
    rows = [line.split() for line in path.read_text().splitlines()]
    for r in rows:
        assert len(r) == 5 and r[0].isdigit()
        assert all(len(v.split(".")[1]) == 6 for v in r[1:]), r  # 6 decimals
    return np.array(rows, np.float64).reshape(-1, 5)


def _all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_and_counts(ds: Path) -> None:
    out = ds.parent
    assert ds == out / "data.yaml"
    data = yaml.safe_load(ds.read_text())
    assert data == {
        "path": str(out.resolve()),
        "train": "images/train",
        "val": "images/val",
        "nc": len(SHAPES),
        "names": list(SHAPES),
    }
    for split, n in (("train", N_TRAIN), ("val", N_VAL)):
        imgs = sorted((out / "images" / split).glob("*.jpg"))
        lbls = sorted((out / "labels" / split).glob("*.txt"))
        assert len(imgs) == n and len(lbls) == n
        assert [p.stem for p in imgs] == [p.stem for p in lbls]
    assert (out / "annotations" / "instances_val.json").is_file()


def test_labels_valid(ds: Path) -> None:
    out = ds.parent
    nonsquare, counts = 0, []
    for split in ("train", "val"):
        for lbl in sorted((out / "labels" / split).glob("*.txt")):
            img = cv2.imread(str(out / "images" / split / f"{lbl.stem}.jpg"))
            assert img is not None
            h, w = img.shape[:2]
            nonsquare += h != w
            assert 0.75 * SIZE - 1 <= min(h, w) and max(h, w) <= 1.25 * SIZE + 1
            a = _labels(lbl)
            counts.append(len(a))
            assert ((a[:, 0] >= 0) & (a[:, 0] < len(SHAPES))).all()
            assert ((a[:, 1:] > 0) & (a[:, 1:] <= 1)).all()
            eps = 1e-6
            assert (a[:, 1] - a[:, 3] / 2 >= -eps).all() and (a[:, 1] + a[:, 3] / 2 <= 1 + eps).all()
            assert (a[:, 2] - a[:, 4] / 2 >= -eps).all() and (a[:, 2] + a[:, 4] / 2 <= 1 + eps).all()
            # object size: circumcircle diameter 6%..50% of the shorter side; boxes at least ~3 px
            px = np.maximum(a[:, 3] * w, a[:, 4] * h)
            assert (px >= 3).all() and (px <= 0.5 * min(h, w) + 3).all()
    assert 1 <= min(counts) and max(counts) <= 8 and len(set(counts)) > 3
    assert nonsquare > 0


def test_multiple_classes_and_sizes_present(ds: Path) -> None:
    a = np.concatenate([_labels(p) for p in (ds.parent / "labels").rglob("*.txt")])
    assert set(a[:, 0].astype(int)) == set(range(len(SHAPES)))
    side = np.maximum(a[:, 3], a[:, 4])
    assert side.min() < 0.12 and side.max() > 0.3


def test_coco_matches_yolo(ds: Path) -> None:
    out = ds.parent
    coco = json.loads((out / "annotations" / "instances_val.json").read_text())
    cats = [{"id": i, "name": n, "supercategory": "shape"} for i, n in enumerate(SHAPES)]
    assert coco["categories"] == cats
    files = sorted(p.name for p in (out / "images" / "val").glob("*.jpg"))
    assert [im["id"] for im in coco["images"]] == list(range(len(files)))
    assert [im["file_name"] for im in coco["images"]] == files
    ann_ids = [an["id"] for an in coco["annotations"]]
    assert len(set(ann_ids)) == len(ann_ids) and min(ann_ids) >= 1
    for im in coco["images"]:
        h, w = cv2.imread(str(out / "images" / "val" / im["file_name"])).shape[:2]
        assert (im["width"], im["height"]) == (w, h)
        anns = [an for an in coco["annotations"] if an["image_id"] == im["id"]]
        lab = _labels(out / "labels" / "val" / (Path(im["file_name"]).stem + ".txt"))
        assert len(anns) == len(lab)
        for an, row in zip(anns, lab):
            assert an["category_id"] == int(row[0]) and an["iscrowd"] == 0
            x, y, bw, bh = an["bbox"]
            assert an["area"] == pytest.approx(bw * bh)
            yolo_xywh = [(row[1] - row[3] / 2) * w, (row[2] - row[4] / 2) * h, row[3] * w, row[4] * h]
            np.testing.assert_allclose([x, y, bw, bh], yolo_xywh, atol=1e-3)


def test_deterministic(ds: Path, tmp_path: Path) -> None:
    # same seed, different worker count -> identical bytes (data.yaml differs only by its path)
    again = make_synth_dataset(tmp_path / "b", n_train=N_TRAIN, n_val=N_VAL, size=SIZE, seed=3, workers=1)
    a, b = _all_files(ds.parent), _all_files(again.parent)
    a.pop("data.yaml"), b.pop("data.yaml")
    assert a.keys() == b.keys() and len(a) == 2 * (N_TRAIN + N_VAL) + 2  # + coco json, marker
    assert all(a[k] == b[k] for k in a)
    other = make_synth_dataset(tmp_path / "c", n_train=4, n_val=0, size=SIZE, seed=4)
    c = _all_files(other.parent)
    assert c["labels/train/000000.txt"] != a["labels/train/000000.txt"]
    # train and val are different streams
    assert a["images/train/000000.jpg"] != a["images/val/000000.jpg"]


def _drawn_bbox(img: np.ndarray, bg: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero((img.astype(int) != bg.astype(int)).any(-1))
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


@pytest.mark.parametrize("shape", ALL_SHAPES)
def test_box_tight_single_shape(shape: str) -> None:
    for k in range(6):
        rng = np.random.default_rng(100 + k)
        w, h = 96 + 20 * k, 160 - 10 * k
        img, boxes, classes = render_image(rng, w, h, shapes=(shape,), n_objects=1, flat=True)
        assert classes.tolist() == [0] and boxes.shape == (1, 4)
        bg = img[0, 0]
        assert (img[0] == bg).all() and (img[:, 0] == bg).all()  # shape does not touch the border
        np.testing.assert_allclose(_drawn_bbox(img, bg), boxes[0], atol=1)


@pytest.mark.parametrize("shape", ALL_SHAPES)
def test_shape_patch_not_clipped(shape: str) -> None:
    for size in (6.0, 13.3, 57.7):
        alpha, _, _ = shape_alpha(shape, size, 0.7, 50.3, 40.6)
        assert alpha.max() > 0.99
        assert alpha[0].max() == 0 and alpha[-1].max() == 0
        assert alpha[:, 0].max() == 0 and alpha[:, -1].max() == 0


def test_boxes_cover_all_drawn_pixels_with_occlusion() -> None:
    overlaps = 0
    for k in range(10):
        img, boxes, _ = render_image(np.random.default_rng(k), 128, 128, n_objects=8, flat=True)
        bg = img[0, 0]
        drawn = (img.astype(int) != bg.astype(int)).any(-1)
        covered = np.zeros_like(drawn)
        for x1, y1, x2, y2 in boxes.astype(int):
            covered[y1:y2, x1:x2] = True
            assert drawn[y1:y2, x1:x2].any(0).sum() >= (x2 - x1) - 2  # every box column has drawn pixels
        assert not (drawn & ~covered).any()
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                overlaps += min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])
    assert overlaps > 0  # objects do overlap


def test_class_subset_and_errors(tmp_path: Path) -> None:
    y = make_synth_dataset(tmp_path / "s", n_train=3, n_val=2, size=64, classes=["star", "ring"])
    data = yaml.safe_load(y.read_text())
    assert data["nc"] == 2 and data["names"] == ["star", "ring"]
    a = np.concatenate([_labels(p) for p in (tmp_path / "s" / "labels").rglob("*.txt")])
    assert set(a[:, 0].astype(int)) <= {0, 1}
    with pytest.raises(ValueError):
        make_synth_dataset(tmp_path / "bad", n_train=1, n_val=1, classes=["heptagon"])
    with pytest.raises(ValueError, match="unknown synthetic style"):
        make_synth_dataset(tmp_path / "bad", n_train=1, n_val=1, style="nightmare")
    # regenerating into the same folder with fewer images leaves no stale files
    make_synth_dataset(tmp_path / "s", n_train=1, n_val=1, size=64)
    assert len(list((tmp_path / "s" / "images" / "train").glob("*.jpg"))) == 1


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="detreg data")
    add_parser(parser.add_subparsers(dest="cmd"))
    out = tmp_path / "cli"
    args = parser.parse_args(["synth", str(out), "--train", "2", "--val", "1", "--size", "64", "--seed", "5"])
    assert args.func(args) == 0
    msg = capsys.readouterr().out
    assert msg.count("\n") == 1 and "2 train" in msg and "1 val" in msg and str(out / "data.yaml") in msg
    assert len(list((out / "images" / "val").glob("*.jpg"))) == 1


def test_hard_style_many_small_overlapping_objects() -> None:
    """The benchmark style: more, smaller objects than the demo, and some of them overlapping."""
    counts, sizes, overlaps = [], [], 0
    for i in range(12):
        rng = np.random.default_rng((3, i))
        img, boxes, classes = render_image(rng, 256, 256, ALL_SHAPES, style="hard")
        assert img.shape == (256, 256, 3) and len(boxes) == len(classes) >= STYLES["hard"].min_objects
        assert ((boxes[:, 2:] > boxes[:, :2]) & (boxes >= 0).all(1, keepdims=True)).all()
        counts.append(len(boxes))
        sizes += list(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]))
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                lo, hi = np.maximum(boxes[a, :2], boxes[b, :2]), np.minimum(boxes[a, 2:], boxes[b, 2:])
                overlaps += bool((hi > lo).all())
    assert np.mean(counts) > 8 and np.median(sizes) < 40 and overlaps > 0
    assert set(
        np.concatenate(
            [render_image(np.random.default_rng(i), 128, 128, ALL_SHAPES, style="hard")[2] for i in range(20)]
        )
    ) == set(range(len(ALL_SHAPES)))


def test_default_style_is_unchanged_by_the_hard_options() -> None:
    a = render_image(np.random.default_rng(7), 96, 80)
    b = render_image(np.random.default_rng(7), 96, 80, style=STYLES["demo"])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
