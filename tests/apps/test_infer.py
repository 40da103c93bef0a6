"""detreg-infer: batched prediction on a folder, drawn images and COCO-format results."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from app_helpers import SIZE, make_checkpoint

from detreg.apps import infer as inf
from detreg.cli import infer_main

SHAPES = {"wide.jpg": (90, 200), "tall.png": (150, 70), "small.jpg": (40, 48)}  # name: (h, w)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("infer")
    src = tmp / "source"
    src.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in SHAPES.items():
        cv2.imwrite(str(src / name), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    return make_checkpoint(tmp), src


def test_folder_drawn_images_and_coco_results(setup: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    ckpt, src = setup
    out = tmp_path / "out"
    argv = ["--weights", str(ckpt), "--source", str(src), "--work-dir", str(out), "--batch-size", "2"]
    assert infer_main([*argv, "--conf", "0.3", "--device", "cpu"]) == 0  # config from the ckpt
    assert "3 images" in capsys.readouterr().out
    for name, (h, w) in SHAPES.items():
        drawn = cv2.imread(str(out / name))
        assert drawn is not None and drawn.shape == (h, w, 3), name  # original size
        assert not np.array_equal(drawn, cv2.imread(str(src / name))), name  # boxes drawn
    preds = json.loads((out / "predictions.json").read_text())
    assert isinstance(preds, list) and preds
    assert {p["file_name"] for p in preds} <= set(SHAPES)
    by_name: dict[str, set[int]] = {}
    for p in preds:
        assert set(p) == {"image_id", "file_name", "category_id", "bbox", "score"}
        assert p["category_id"] in (0, 1, 2) and 0.3 < p["score"] <= 1.0
        h, w = SHAPES[p["file_name"]]
        x, y, bw, bh = p["bbox"]
        assert 0 <= x and 0 <= y and bw >= 0 and bh >= 0
        assert x + bw <= w + 1e-3 and y + bh <= h + 1e-3
        by_name.setdefault(p["file_name"], set()).add(p["image_id"])
    assert all(len(ids) == 1 for ids in by_name.values())  # one id per image
    assert len({next(iter(ids)) for ids in by_name.values()}) == len(by_name)  # distinct ids
    # boxes are in original pixels: the 200 px wide image has boxes beyond the 64 px input
    assert max(p["bbox"][0] + p["bbox"][2] for p in preds if p["file_name"] == "wide.jpg") > SIZE


def test_default_work_dir_is_numbered(setup: tuple[Path, Path], tmp_path: Path, monkeypatch) -> None:
    ckpt, src = setup
    monkeypatch.chdir(tmp_path)
    one = str(src / "small.jpg")
    for _ in range(2):
        assert infer_main(["--weights", str(ckpt), "--source", one, "--workers", "0"]) == 0
    assert (tmp_path / "runs/infer/exp/small.jpg").is_file()
    assert (tmp_path / "runs/infer/exp2/predictions.json").is_file()


def test_img_size_rounds_up_to_the_stride(setup: tuple[Path, Path], tmp_path: Path, caplog) -> None:
    import logging

    ckpt, src = setup
    argv = ["--weights", str(ckpt), "--source", str(src / "small.jpg"), "--workers", "0", "--img-size", "50"]
    with caplog.at_level(logging.WARNING, logger="detreg"):
        assert infer_main([*argv, "--work-dir", str(tmp_path)]) == 0
    assert "--img-size 50 is not a multiple of the model stride 32: using 64" in caplog.text


def test_explicit_config_without_data(setup: tuple[Path, Path], tmp_path: Path) -> None:
    # configs/yolov6n.yaml names no dataset: nc and class names come from the checkpoint
    ckpt, src = setup
    argv = ["configs/yolov6n.yaml", "train.img_size=64", "--weights", str(ckpt), "--source", str(src)]
    res = inf.run(inf_args([*argv, "--work-dir", str(tmp_path), "--conf", "0.3", "--workers", "0"]))
    assert res == 0
    preds = json.loads((tmp_path / "predictions.json").read_text())
    assert preds and {p["category_id"] for p in preds} <= {0, 1, 2}


def test_draw_boxes_labels_boxes() -> None:
    from detreg.data.draw import draw_boxes

    img = np.zeros((50, 80, 3), np.uint8)
    out = draw_boxes(img, np.array([[10, 20, 40, 45, 0.9, 1]]), ["a", "b"])
    assert out.shape == img.shape and out.any() and not img.any()


def test_missing_weights_and_source_are_one_line_errors(setup: tuple[Path, Path], tmp_path, capsys) -> None:
    ckpt, src = setup
    assert infer_main(["--weights", str(tmp_path / "none.pt"), "--source", str(src)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "weights not found" in err
    assert infer_main(["--weights", str(ckpt), "--source", str(tmp_path / "nothing")]) == 2
    assert "--source not found" in capsys.readouterr().err


def inf_args(argv: list[str]):
    """Parse like the command line does."""
    import argparse

    from detreg.apps.common import parse_args

    p = argparse.ArgumentParser()
    inf.add_arguments(p)
    return parse_args(p, argv)


def test_category_ids_follow_the_dataset_mapping(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from detreg.apps import category_ids

    ann = tmp_path / "instances_val.json"
    ann.write_text(json.dumps({"images": [], "categories": [{"id": 7}, {"id": 3}, {"id": 90}]}))
    assert category_ids(SimpleNamespace(data={"data": {"val": {"ann_file": str(ann)}}}), 3) == [3, 7, 90]
    assert category_ids(SimpleNamespace(data={"data": {"val": {"cat_ids": [5, 6]}}}), 2) == [5, 6]
    assert category_ids(SimpleNamespace(data={"data": {}}), 3) == [0, 1, 2]  # a folder: the index
