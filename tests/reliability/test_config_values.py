"""Config values are checked before any data is read (issue 11 item 10, issue 10 item 7).

Each bad value is reported as ``file:line: key.path: ...`` (or ``command line``), all of
them at once, from the annotations of the parameter that receives it (``Literal``, types,
``Range``) or the ``train:`` schema; nothing is built and no image is scanned.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from detreg.cli import main, train_main
from detreg.config import run_context
from detreg.launch import prepare_config

BAD = {
    "model.loss.iou_type=xiou": (
        "model.loss.iou_type: must be one of 'iou', 'giou', 'diou', 'ciou', 'siou', got 'xiou'"
    ),
    "hooks.ema.decay=abc": "hooks.ema.decay: expected a number, got 'abc'",
    "train.workers=two": "train.workers: expected an integer, got 'two'",
    "train.seed=x": "train.seed: expected an integer, got 'x'",
    "train.amp=maybe": "train.amp: expected true or false, got 'maybe'",
    "optimizer.lr=abc": "optimizer.lr: expected a number, got 'abc'",
    "train.batch_size=0": "train.batch_size: must be >= 1, got 0",
}


@pytest.mark.parametrize("override", sorted(BAD))
def test_each_bad_value_names_its_key(override: str, tiny_data: Path, capsys) -> None:
    assert train_main(["yolov6n", "--data", str(tiny_data), override]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"command line: {BAD[override]}" in err
    assert "images" not in err  # failed before any dataset was scanned


def test_all_problems_at_once_with_file_and_line(tmp_path: Path, tiny_data: Path, capsys) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        textwrap.dedent(
            """\
            _base_: yolov6n.yaml
            train:
              batch_size: 0
              amp: maybe
            model:
              loss: {iou_type: xiou}
            """
        )
    )
    assert main(["check", str(cfg), "--data", str(tiny_data), "optimizer.lr=abc"]) == 2
    err = capsys.readouterr().err
    assert "4 problem(s) in config" in err
    assert "bad.yaml:3: train.batch_size: must be >= 1, got 0" in err
    assert "bad.yaml:4: train.amp: expected true or false, got 'maybe'" in err
    assert "bad.yaml:6: model.loss.iou_type: must be one of" in err
    assert "command line: optimizer.lr: expected a number, got 'abc'" in err


def test_numbers_written_like_1e_3_are_numbers(tiny_data: Path) -> None:
    cfg = prepare_config("yolov6n", ["optimizer.lr=1e-3"], tiny_data)  # PyYAML reads '1e-3' as a string
    from detreg.registry import OPTIMIZERS

    assert OPTIMIZERS.check(cfg.data["optimizer"], "optimizer", provided=("model",)) == []


def test_img_size_rounds_up_to_the_stride_everywhere(tiny_data: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="detreg"):
        cfg = prepare_config("yolov6n", ["train.img_size=100"], tiny_data)
    assert cfg.data["train"]["img_size"] == 128
    assert run_context(cfg.data)["img_size"] == 128  # what every component is offered
    assert "train.img_size=100 is not a multiple of the model stride 32: using 128" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="detreg"):
        assert prepare_config("yolov6n", ["train.img_size=96"], tiny_data).data["train"]["img_size"] == 96
    assert "stride" not in caplog.text
