"""``detreg quantize``: PTQ really quantizes (q/dq ops, int8 weights), skips stay float,
calibration sets the scales, the int8 file loads anywhere ``--weights`` is taken."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("torchao")

from quant_helpers import SIZE, make_float_checkpoint  # noqa: E402

from detreg.apps import load_detector, resolve_config  # noqa: E402
from detreg.cli import main  # noqa: E402
from detreg.engine.checkpoint import load_checkpoint  # noqa: E402
from detreg.errors import DetregError  # noqa: E402

SKIP = "head.cls_preds.*"


@pytest.fixture(scope="module")
def run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The command on a small YOLOv6-N: one calibration batch, class predictors kept float."""
    tmp = tmp_path_factory.mktemp("ptq")
    ckpt = make_float_checkpoint(tmp, tiny_data)
    argv = ["quantize", "--weights", str(ckpt), "--data", str(tiny_data), "--calib-batches", "1"]
    rc = main([*argv, "--skip", SKIP])
    return {"rc": rc, "float": ckpt, "int8": tmp / "best_int8.pt", "tmp": tmp}


def _conv_weights(graph: torch.fx.GraphModule) -> dict[str, torch.fx.Node]:
    """Per conv node: its module name -> the node giving its weight."""
    out = {}
    for n in graph.graph.nodes:
        if n.op == "call_function" and "conv2d" in str(n.target):
            stack = list(n.meta.get("nn_module_stack", {}).values())
            out[stack[-1][0]] = n.args[1]
    return out


def _attr(graph: torch.nn.Module, target: str) -> torch.Tensor:
    for part in target.split("."):
        graph = getattr(graph, part)
    return graph


def test_command_writes_int8_file_and_table(run: dict, capsys: pytest.CaptureFixture) -> None:
    assert run["rc"] == 0
    record = json.loads((run["tmp"] / "quantize.json").read_text())
    assert set(record) >= {"float", "int8", "calib_images", "skip"}
    assert record["calib_images"] == 4 and record["skip"] == [f"head.cls_preds.{i}" for i in range(3)]
    assert "mAP50_95" in record["float"] and "mAP50_95" in record["int8"]
    ckpt = load_checkpoint(run["int8"])  # weights_only: plain tensors, no pickled module
    assert ckpt["quantized"]["mode"] == "ptq" and ckpt["quantized"]["img_size"] == [SIZE, SIZE]
    int8 = [k for k, v in ckpt["int8"].items() if v.dtype == torch.int8]
    assert len(int8) >= 20  # the stored conv weights are int8


def test_int8_file_loads_quantized_with_skips_float(run: dict) -> None:
    ns = argparse.Namespace(config=None, overrides=[], data=None, weights=str(run["int8"]))
    model, names, _ = load_detector(resolve_config(ns), run["int8"])
    targets = {str(n.target) for n in model.net.graph.nodes if n.op == "call_function"}
    assert "quantized_decomposed.quantize_per_tensor.default" in targets
    assert "quantized_decomposed.dequantize_per_channel.default" in targets
    weights = _conv_weights(model.net)
    assert len(weights) > 20
    for name, w in weights.items():
        if name.startswith("head.cls_preds."):  # skipped: the float weight straight from the module
            assert w.op == "get_attr" and _attr(model.net, w.target).dtype == torch.float32, name
        else:  # int8 weight, dequantized per channel
            assert "dequantize_per_channel" in str(w.target), name
            assert _attr(model.net, w.args[0].target).dtype == torch.int8, name
    ns.weights = str(run["float"])
    float_model, _, _ = load_detector(resolve_config(ns), run["float"])
    x = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref, out = float_model(x), model(x)
    assert out.shape == ref.shape
    assert (out[..., 4:] - ref[..., 4:]).abs().max() < 0.1  # scores: int8 close to float
    assert not torch.equal(out, ref)  # ... but computed in int8


def test_calibration_sets_activation_scales() -> None:
    from detreg.quant.backend import convert, export_network, prepare

    def input_scale(gain: float) -> float:
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU()).eval()
        prepared = prepare(export_network(net, torch.rand(2, 3, 32, 32)))
        prepared(torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * gain)
        node = next(n for n in convert(prepared).graph.nodes if "quantize_per_tensor" in str(n.target))
        return float(node.args[1])

    one, ten = input_scale(1.0), input_scale(10.0)
    assert one == pytest.approx(1 / 255, rel=0.05)  # inputs in [0, 1] over 256 uint8 levels
    assert ten == pytest.approx(10 * one, rel=0.05)


def test_already_quantized_is_refused(run: dict, capsys: pytest.CaptureFixture) -> None:
    assert main(["quantize", "--weights", str(run["int8"]), "--data", "x.yaml"]) == 2
    assert "already quantized" in capsys.readouterr().err


def test_skip_pattern_naming_nothing(run: dict, tiny_data: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["quantize", "--weights", str(run["float"]), "--data", str(tiny_data), "--skip", "head.nope*"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "skip: pattern 'head.nope*' names no layer" in err and "\n" not in err.strip()


def test_unexportable_model() -> None:
    from detreg.quant.backend import export_network

    class DataDependent(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2 if x.sum() > 0 else x

    with pytest.raises(DetregError, match="cannot be exported for quantization"):
        export_network(DataDependent(), torch.rand(2, 3, 32, 32))


def test_torchao_missing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, run: dict) -> None:
    monkeypatch.setitem(sys.modules, "torchao", None)
    monkeypatch.setitem(sys.modules, "torchao.quantization.pt2e.quantize_pt2e", None)
    assert main(["quantize", "--weights", str(run["float"]), "--data", "x.yaml"]) == 2
    assert "pip install 'detreg[quant]'" in capsys.readouterr().err


def test_sensitivity_quantizes_one_block_at_a_time(run: dict, tiny_data: Path, capsys) -> None:
    work = run["tmp"] / "sens"
    argv = ["quantize", "--weights", str(run["float"]), "--data", str(tiny_data), "--sensitivity"]
    argv += ["--calib-batches", "1", "--blocks", "backbone.stem", "head.reg_preds", "--work-dir", str(work)]
    assert main(argv) == 0
    rows = json.loads((work / "sensitivity.json").read_text())
    assert rows[0]["block"] == "float" and rows[0]["int8_convs"] == 0
    by_block = {r["block"]: r for r in rows[1:]}
    assert set(by_block) == {"backbone.stem", "head.reg_preds"}
    assert by_block["backbone.stem"]["int8_convs"] == 1  # that block alone is int8
    assert by_block["head.reg_preds"]["int8_convs"] == 3  # one predictor per level
    drops = [r["drop"] for r in rows[1:]]
    assert drops == sorted(drops, reverse=True)
    assert "backbone.stem" in capsys.readouterr().out


def test_skip_of_a_module_list_names_its_members() -> None:
    from detreg.quant.backend import match_skip

    net = torch.nn.Module()
    net.head = torch.nn.Module()
    net.head.preds = torch.nn.ModuleList(torch.nn.Conv2d(3, 3, 1) for _ in range(2))
    net.head.stem = torch.nn.Conv2d(3, 3, 1)
    assert match_skip(net, ["head.preds"]) == ["head.preds.0", "head.preds.1"]
    assert match_skip(net, ["head.*"]) == ["head.preds.0", "head.preds.1", "head.stem"]
