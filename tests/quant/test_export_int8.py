"""``detreg-export --int8``: a QDQ ONNX model that ONNX Runtime runs and that agrees with
the torch int8 model (scores within 1e-3, boxes within 0.25 px at 64 px)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("torchao")
pytest.importorskip("onnxruntime")

from quant_helpers import SIZE, make_float_checkpoint  # noqa: E402

from detreg.apps import export as ex  # noqa: E402
from detreg.apps import load_detector, resolve_config  # noqa: E402
from detreg.cli import export_main, main  # noqa: E402
from detreg.quant.onnx import qdq_counts  # noqa: E402


@pytest.fixture(scope="module")
def files(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("int8_export")
    ckpt = make_float_checkpoint(tmp, tiny_data)
    argv = ["quantize", "--weights", str(ckpt), "--data", str(tiny_data), "--calib-batches", "1"]
    assert main([*argv, "--no-eval"]) == 0
    return {"float": ckpt, "int8": tmp / "best_int8.pt", "tmp": tmp}


def test_qdq_onnx_matches_torch_int8(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    out = files["tmp"] / "onnx"
    argv = ["--weights", str(files["int8"]), "--int8", "--dynamic", "--batch", "2", "--work-dir", str(out)]
    assert export_main(argv) == 0  # the command's own check (batches 2 and 3) passes
    assert "onnxruntime vs pytorch (batch 3)" in capsys.readouterr().out
    path = out / "best_int8.onnx"
    counts = qdq_counts(str(path))
    assert counts["QuantizeLinear"] > 20 and counts["DequantizeLinear"] > 40
    assert counts["int8_initializers"] > 20  # the conv weights are stored as int8

    ns = argparse.Namespace(config=None, overrides=[], data=None, weights=str(files["int8"]))
    model = load_detector(resolve_config(ns), files["int8"])[0]
    session = ex.ort_session(path)
    x = torch.rand(4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        ref = model(x).numpy()
    got = session.run(None, {"images": x.numpy()})[0]
    assert got.shape == ref.shape
    assert np.abs(got[..., 4:] - ref[..., 4:]).max() < 1e-3  # scores (this random-head model; see INT8_TOL)
    assert np.abs(got[..., :4] - ref[..., :4]).max() < 0.25  # boxes, pixels


def test_int8_flag_refuses_a_float_checkpoint(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    argv = ["--weights", str(files["float"]), "--int8", "--work-dir", str(files["tmp"] / "no")]
    assert export_main(argv) == 2
    assert "detreg quantize --weights" in capsys.readouterr().err
