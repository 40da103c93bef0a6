"""Loading the wrong file says what is wrong, in one line: a random, empty, ONNX or YAML file
is "not a detreg checkpoint" (never PyTorch's advice to retry with weights_only=False), a
pickled object is refused by name, and weights that do not fit the model are summarised by
module with the first few shapes (a yolov6s checkpoint resumed into yolov6n printed 624 lines)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from detreg.cli import eval_main, main, train_main
from detreg.config import load_config
from detreg.data.synth import make_synth_dataset
from detreg.engine.checkpoint import describe_mismatch, load_checkpoint, save_checkpoint
from detreg.errors import DetregError
from detreg.launch import find_config
from detreg.registry import MODELS


def _state(name: str, nc: int) -> dict[str, torch.Tensor]:
    return MODELS.build(
        load_config(find_config(name)).data["model"], "model", {"num_classes": nc}
    ).state_dict()


RANDOM = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()


class Payload:
    """Anything that is not plain state."""


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("random.pt", b"\x13" + RANDOM, "not a detreg checkpoint: unknown format"),
        ("pickle-like.pt", b"\x80" + RANDOM, "not a detreg checkpoint"),  # starts like a pickle
        ("empty.pt", b"", "not a detreg checkpoint: the file is empty (0 bytes)"),
        (
            "model.onnx",
            b"\x08\x08\x12\x07pytorch" + os.urandom(256),
            "not a detreg checkpoint: it is an ONNX model",
        ),
        ("cfg.yaml", b"model: {type: Detector}\n", "not a detreg checkpoint: it is a YAML/text file"),
    ],
)
def test_files_that_are_not_checkpoints(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DetregError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert expected in msg and "\n" not in msg
    assert "weights_only" not in msg and "pickled" not in msg


def test_random_bytes_behind_a_checkpoint_header_never_escape_as_a_traceback(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "fuzz.pt"
    for i in range(300):
        header = (b"\x80", b"PK\x03\x04", b"\x80\x02")[i % 3]
        path.write_bytes(header + rng.integers(0, 256, int(rng.integers(1, 2048)), dtype=np.uint8).tobytes())
        with pytest.raises(DetregError) as info:
            load_checkpoint(path)
        assert "weights_only" not in str(info.value) and "\n" not in str(info.value)


def test_pickled_objects_are_refused_by_name_without_the_retry_advice(tmp_path: Path) -> None:
    path = tmp_path / "payload.pt"
    torch.save({"model": Payload()}, path)
    with pytest.raises(DetregError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert "refusing to load: it holds a pickled Python object (" in msg and "Payload" in msg
    assert "weights_only" not in msg and "\n" not in msg


def test_onnx_and_yaml_given_as_weights_or_resume(tmp_path: Path, capsys) -> None:
    onnx = tmp_path / "best.onnx"
    onnx.write_bytes(b"\x08\x08\x12\x07pytorch" + bytes(64))
    assert eval_main(["--weights", str(onnx)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("detreg: error:") and "not a detreg checkpoint: it is an ONNX model" in err
    yml = tmp_path / "last.yaml"
    yml.write_text("train: {epochs: 3}\n")
    assert train_main(["--resume", str(yml)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a detreg checkpoint: it is a YAML/text file" in err and "weights_only" not in err


def test_a_yolov6s_checkpoint_resumed_into_yolov6n_is_summarised(tmp_path: Path, capsys) -> None:
    data = make_synth_dataset(tmp_path / "shapes", n_train=4, n_val=2, size=64)
    ckpt = save_checkpoint({"model": _state("yolov6s", 6), "epoch": 1}, tmp_path / "s.pt")
    argv = ["yolov6n", "--data", str(data), "--resume", str(ckpt), "--work-dir", str(tmp_path / "run")]
    assert train_main([*argv, "train.img_size=64", "train.workers=0", "train.batch_size=2"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("detreg: error:")]
    assert len(err) == 1 and len(err[0]) < 700, err
    assert "the weights do not fit the config's model" in err[0]
    assert "tensor(s) differ in shape in backbone." in err[0] and "vs" in err[0]


def test_class_count_mismatch_is_named() -> None:
    text = describe_mismatch(_state("yolov6n", 2), _state("yolov6n", 6))
    assert text is not None and text.startswith("head.cls_preds: 6 vs 2 classes (file vs model)")
    assert describe_mismatch(_state("yolov6n", 2), _state("yolov6n", 2)) is None


def test_data_show_on_a_missing_file_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["data", "show", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"detreg: error: no such file: {tmp_path / 'nope.yaml'} (a config or a data yaml)"
