"""detreg-export: ONNX export of a (untrained) YOLOv6-N, checked with ONNX Runtime."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from app_helpers import SIZE, make_checkpoint  # noqa: E402

from detreg.apps import export as ex  # noqa: E402
from detreg.apps import load_detector, resolve_config  # noqa: E402
from detreg.cli import export_main  # noqa: E402
from detreg.models.export_graph import NMS_OUTPUTS, End2End  # noqa: E402

CONF = 0.3


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def model(ckpt: Path) -> torch.nn.Module:
    ns = argparse.Namespace(config=None, overrides=[], data=None, weights=str(ckpt))
    return load_detector(resolve_config(ns), ckpt)[0]


@pytest.fixture(scope="module")
def nms_dynamic(ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NMS in the graph, dynamic batch, exported by the command from ``configs/yolov6n.yaml``
    (no dataset in it: nc=3 and the names come from the checkpoint); the command's own
    ONNX Runtime check must pass."""
    out = tmp_path_factory.mktemp("nms")
    argv = ["configs/yolov6n.yaml", "--weights", str(ckpt), "--work-dir", str(out), "--nms", "--dynamic"]
    assert export_main([*argv, "--conf", str(CONF), "--img-size", str(SIZE)]) == 0
    return out / "best_nms.onnx"


def _rand(b: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(b, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def test_static_export_matches_pytorch(ckpt: Path, model: torch.nn.Module, tmp_path: Path, capsys) -> None:
    argv = ["--weights", str(ckpt), "--work-dir", str(tmp_path), "--batch", "2"]  # config from the ckpt
    assert export_main(argv) == 0
    out = capsys.readouterr().out
    assert "onnxruntime vs pytorch (batch 2): max abs diff" in out, out
    path = tmp_path / "best.onnx"
    sess = ex.ort_session(path)
    (inp,) = sess.get_inputs()
    assert inp.name == "images" and inp.shape == [2, 3, SIZE, SIZE]  # train.img_size of the ckpt
    assert sess.get_outputs()[0].shape == [2, 84, 7]  # 8*8 + 4*4 + 2*2 anchors, 4 + 3 classes
    assert ex.compare_raw(sess, model, _rand(2)) < 1e-4
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["names"] == '["red", "green", "blue"]'


def test_dynamic_batch_raw(model: torch.nn.Module, tmp_path: Path) -> None:
    path, _ = ex.export_onnx(model, tmp_path / "raw.onnx", (SIZE, SIZE), batch=2, dynamic=True)
    sess = ex.ort_session(path)
    assert sess.get_inputs()[0].shape[0] == "batch"
    for b in (1, 3):
        assert ex.compare_raw(sess, model, _rand(b, seed=b)) < 1e-4


def test_nms_in_graph_agrees_with_postprocess(nms_dynamic: Path, model: torch.nn.Module) -> None:
    sess = ex.ort_session(nms_dynamic)
    assert [o.name for o in sess.get_outputs()] == list(NMS_OUTPUTS)
    for b in (1, 3):
        x = _rand(b, seed=b)
        num, boxes, scores, classes = sess.run(None, {"images": x.numpy()})
        assert num.shape == (b, 1) and boxes.shape == (b, 300, 4) and scores.shape == (b, 300)
        assert num.dtype == classes.dtype == np.int32
        stats = ex.compare_nms(sess, model, x, CONF, 0.65, 300)
        assert stats["bad_images"] == 0, stats
        assert stats["detections"] >= 10 * b, stats  # the check is not vacuous
        # the same detections as postprocess (a few may swap with an exactly tied neighbour)
        assert stats["matched"] >= 0.95 * stats["detections"], stats
        assert stats["box_diff"] < 1e-3 and stats["score_diff"] < 1e-5, stats


def test_nms_check_catches_a_wrong_graph(nms_dynamic: Path, model: torch.nn.Module) -> None:
    # the graph suppresses at IoU > 0.65; checked as if it were 0.3 it must be reported
    stats = ex.compare_nms(ex.ort_session(nms_dynamic), model, _rand(1), CONF, 0.3, 300)
    assert stats["bad_images"] == 1, stats


def test_end2end_module_equals_postprocess(model: torch.nn.Module) -> None:
    from detreg.ops.nms import postprocess

    x = _rand(2, seed=5)
    with torch.no_grad():
        num, boxes, scores, classes = End2End(model, CONF, 0.65, 50)(x)
        ref = postprocess(model(x), CONF, 0.65, 50)
    for i, det in enumerate(ref):
        n = int(num[i, 0])
        assert n == len(det) and n > 0
        assert torch.allclose(scores[i, :n], det[:, 4])
        assert torch.all(scores[i, n:] == 0) and torch.all(classes[i, n:] == -1)


def test_ema_weights_preferred(ckpt: Path, tmp_path: Path) -> None:
    from detreg.engine.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(ckpt)
    ema = {k: v.clone() for k, v in state["model"].items()}
    ema["head.cls_preds.0.bias"] += 1.0
    state["ema"] = {"module": ema, "updates": 10}
    path = save_checkpoint(state, tmp_path / "ema.pt")
    ns = argparse.Namespace(config=None, overrides=[], data=None, weights=str(path))
    m = load_detector(resolve_config(ns), path, fuse=False)[0]
    assert torch.equal(m.head.cls_preds[0].bias, ema["head.cls_preds.0.bias"])


def test_missing_weights_is_one_line_error(tmp_path: Path, capsys) -> None:
    assert export_main(["--weights", str(tmp_path / "nope.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "weights not found" in err


def test_missing_onnx_tells_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from detreg.errors import DetregError

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(DetregError, match=r"pip install 'detreg\[export\]'"):
        ex.require_onnx()
