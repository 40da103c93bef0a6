"""Parsing YOLO and COCO datasets and data yamls; ids and categories round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from data_helpers import write_coco, write_yolo

from detreg.data.coco import COCODataset
from detreg.data.data_yaml import data_section_from_yaml, load_data_yaml
from detreg.data.folder import ImageFolder, UnlabeledDataset
from detreg.data.loader import build_dataloader
from detreg.data.yolo import YOLODataset
from detreg.errors import DetregError
from detreg.registry import DATASETS


def _to_original(batch: dict, i: int) -> np.ndarray:
    """Targets of image ``i`` back in original xyxy pixels through ``ratio_pad``."""
    _, _, h, w = batch["img"].shape
    t = batch["targets"][batch["targets"][:, 0] == i].numpy()
    (rh, rw), (pw, ph) = batch["ratio_pad"][i]
    cx, cy, bw, bh = t[:, 2] * w, t[:, 3] * h, t[:, 4] * w, t[:, 5] * h
    x1, y1 = (cx - bw / 2 - pw) / rw, (cy - bh / 2 - ph) / rh
    x2, y2 = (cx + bw / 2 - pw) / rw, (cy + bh / 2 - ph) / rh
    return np.stack([t[:, 1], x1, y1, x2, y2], 1)


def test_yolo_sources_dir_list_file_and_list(tmp_path: Path) -> None:
    written = write_yolo(tmp_path, "train", 5, seed=4)
    paths = [str(p) for p, _ in written]
    (tmp_path / "train.txt").write_text("\n".join(f"./images/train/{Path(p).name}" for p in paths[:3]))
    by_dir = YOLODataset(str(tmp_path / "images" / "train"), img_size=64, num_classes=3)
    by_file = YOLODataset(str(tmp_path / "train.txt"), img_size=64, num_classes=3)
    by_list = YOLODataset(paths[3:], img_size=64, num_classes=3)
    assert len(by_dir) == 5 and len(by_file) == 3 and len(by_list) == 2
    assert by_dir.class_names == ["class0", "class1", "class2"]
    for item, (_, boxes) in zip(by_dir.items, written):
        want = np.array([b[1:] for b in boxes], np.float32)
        np.testing.assert_allclose(item.boxes, want, atol=1e-3)
        np.testing.assert_array_equal(item.cls, [b[0] for b in boxes])


def test_yolo_coco_gt_matches_batches(yolo_root: Path) -> None:
    ds = YOLODataset(str(yolo_root / "images" / "val"), img_size=64, class_names=["a", "b", "c"], rect=True)
    gt = ds.coco_gt()
    assert {im["id"] for im in gt["images"]} == set(range(6))  # numeric stems
    anns: dict[int, list] = {}
    for a in gt["annotations"]:
        anns.setdefault(a["image_id"], []).append([a["category_id"], *a["bbox"]])
    loader = build_dataloader(ds, batch_size=4, workers=0, shuffle=False)
    seen = []
    for batch in loader:
        assert batch["img"].shape[2] % 32 == 0 and batch["img"].shape[3] % 32 == 0
        for i, image_id in enumerate(batch["image_ids"]):
            seen.append(image_id)
            got = _to_original(batch, i)
            want = np.array(anns[image_id], np.float32)
            want[:, 3:] += want[:, 1:3]  # xywh -> xyxy
            np.testing.assert_allclose(got[np.argsort(got[:, 1])], want[np.argsort(want[:, 1])], atol=0.02)
    assert sorted(seen) == list(range(6))


def test_coco_dataset_category_round_trip(tmp_path: Path) -> None:
    ann = write_coco(tmp_path, cat_ids=(1, 5, 90))
    ds = COCODataset(str(ann))
    assert ds.cat_ids == [1, 5, 90] and ds.class_names == ["cat1", "cat5", "cat90"]
    raw = json.loads(ann.read_text())
    want = {}
    for a in raw["annotations"]:
        if not a["iscrowd"]:
            want.setdefault(a["image_id"], []).append([a["category_id"], *a["bbox"]])
    loader = build_dataloader(ds, batch_size=3, workers=0, shuffle=False)
    for batch in loader:
        for i, image_id in enumerate(batch["image_ids"]):
            got = _to_original(batch, i)
            cats = sorted(ds.cat_ids[int(c)] for c in got[:, 0])
            assert cats == sorted(w[0] for w in want[image_id])  # crowd boxes left out
    gt = ds.coco_gt()
    assert len(gt["annotations"]) == len(raw["annotations"])  # crowd kept for evaluation
    assert {c["id"] for c in gt["categories"]} == {1, 5, 90}


def test_image_folder_and_unlabeled(yolo_root: Path) -> None:
    folder = ImageFolder(str(yolo_root / "images" / "val"), img_size=64)
    s = folder[0]
    assert s["img"].shape == (64, 64, 3) and len(s["boxes"]) == 0
    un = UnlabeledDataset(str(yolo_root / "images" / "train"), img_size=64)
    assert len(un) == 12 and "img_strong" not in un[0]
    built = DATASETS.build(
        {
            "type": "UnlabeledDataset",
            "img_path": str(yolo_root / "images" / "train"),
            "transforms": [{"type": "RandomFlip"}],
            "strong_transforms": [
                {"type": "ColorJitter", "prob": 1.0},
                {"type": "RandomErasing", "prob": 1.0},
            ],
        },
        context={"img_size": 64, "seed": 0},
    )
    batch = next(iter(build_dataloader(built, batch_size=4, workers=0)))
    assert batch["img"].shape == batch["img_strong"].shape == (4, 3, 64, 64)
    assert not bool((batch["img"] == batch["img_strong"]).all())
    assert batch["targets"].shape == (0, 6)


def test_load_data_yaml_names_dict_and_section(yolo_root: Path) -> None:
    y = yolo_root / "d.yaml"
    y.write_text(
        yaml.safe_dump({"path": ".", "train": "images/train", "val": "images/val", "names": {0: "x", 1: "y"}})
    )
    data = load_data_yaml(y)
    assert data["nc"] == 2 and data["names"] == ["x", "y"] and Path(data["train"]).is_dir()
    sec = data_section_from_yaml(yolo_root / "data.yaml")
    assert sec["nc"] == 3 and sec["train"]["type"] == "YOLODataset"
    ds = DATASETS.build(sec["val"], context={"img_size": 64})
    assert len(ds) == 6 and ds.num_classes == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("train: [unclosed\n", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("train: images/train\nnc: 4\nnames: [a, b]\n", "'names' has 2 entries but 'nc' is 4"),
        ("train: nowhere\nnames: [a]\n", "'train' path"),
        ("train: images/train\n", "needs 'names'"),
    ],
)
def test_data_yaml_errors_are_one_line(yolo_root: Path, content: str | None, message: str) -> None:
    y = yolo_root / "bad.yaml"
    if content is not None:
        y.write_text(content)
    with pytest.raises(DetregError) as err:
        load_data_yaml(y)
    text = str(err.value)
    assert message in text and "\n" not in text and "bad.yaml" in text


def test_coco_format_data_yaml(tmp_path: Path) -> None:
    ann = write_coco(tmp_path)
    y = tmp_path / "coco.yaml"
    y.write_text(
        yaml.safe_dump({"format": "coco", "val": "images/val", "val_ann": str(ann), "names": ["a", "b", "c"]})
    )
    sec = data_section_from_yaml(y)
    assert sec["val"]["type"] == "COCODataset" and sec["val"]["ann_file"] == str(ann)
    ds = DATASETS.build(sec["val"], context={"img_size": 64})
    assert ds.cat_ids == [1, 5, 90] and len(ds) == 6
