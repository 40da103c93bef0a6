"""A dataset that would train on nothing is an error, at training start and in `detreg data check`:
every label file missing, every label file empty, no images at all. An image without a label
file is named in the check report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from detreg.cli import main, train_main
from detreg.data.synth import make_synth_dataset
from detreg.data.yolo import YOLODataset
from detreg.errors import DetregError


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    """A 6-train / 3-val synthetic set; returns its data yaml."""
    return make_synth_dataset(tmp_path / "shapes", n_train=6, n_val=3, size=64, seed=0)


def _train_argv(data_yaml: Path, tmp_path: Path) -> list[str]:
    return [
        "yolov6n",
        "--data",
        str(data_yaml),
        "--work-dir",
        str(tmp_path / "run"),
        "train.epochs=1",
        "train.img_size=64",
        "train.batch_size=2",
        "train.workers=0",
    ]


def test_no_label_files_stops_training_and_fails_check(shapes: Path, tmp_path: Path, capsys) -> None:
    shutil.rmtree(shapes.parent / "labels")
    assert train_main(_train_argv(shapes, tmp_path)) == 2
    err = capsys.readouterr().err
    assert "none of the 6 images has a label file" in err and "labels/train/000000.txt" in err
    errors = [line for line in err.splitlines() if line.startswith("detreg: error:")]
    assert len(errors) == 1 and "none of the 6 images" in errors[0]
    assert not (tmp_path / "run" / "last.pt").exists()

    assert main(["data", "check", str(shapes), "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert "train: error: none of the 6 images has a label file" in out
    assert "val: error: none of the 3 images has a label file" in out


def test_all_label_files_empty_is_an_error(shapes: Path) -> None:
    for f in (shapes.parent / "labels" / "train").iterdir():
        f.write_text("")
    with pytest.raises(DetregError, match="no boxes: the label files of all 6 images are empty"):
        YOLODataset(str(shapes.parent / "images" / "train"), img_size=64, num_classes=6, cache=False)


def test_empty_split_fails_check(shapes: Path, capsys) -> None:
    for f in (shapes.parent / "images" / "val").iterdir():
        f.unlink()
    assert main(["data", "check", str(shapes), "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert "val: error: no images in" in out


def test_an_image_without_labels_is_named_and_kept(shapes: Path, capsys) -> None:
    (shapes.parent / "labels" / "train" / "000003.txt").unlink()
    assert main(["data", "check", str(shapes), "--no-cache"]) == 0  # background images are legal
    out = capsys.readouterr().out
    assert "1 missing labels" in out
    assert "no labels: " in out and "images/train/000003.jpg" in out and "labels/train/000003.txt" in out
