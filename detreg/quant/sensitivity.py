"""Sensitivity analysis: quantize one block at a time, rank the blocks by mAP drop.

Each block (a module two levels down: ``backbone.stem``, ``backbone.stages.2``, ``neck.rep_p4``,
``head.cls_preds``, ...) is quantized alone (everything else float), calibrated on the same batches and
evaluated; the blocks whose int8 form loses the most mAP come first. Those are the
candidates for ``--skip`` / ``QATHook.skip``.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Sequence
from typing import Any

from torch import nn

from detreg.errors import DetregError


def _convs(module: nn.Module) -> int:
    return sum(isinstance(m, nn.Conv2d) for m in module.modules())


def blocks(net: nn.Module, patterns: Sequence[str] = ()) -> list[str]:
    """Modules two levels down that hold a conv (optionally only those ``patterns`` name).

    A list whose members are blocks of several convs (``backbone.stages``) counts as one
    block per member; a list of single convs (``head.cls_preds``: one per level) as one.
    """
    names = []
    for name, module in net.named_modules():
        if name.count(".") != 1 or not _convs(module):
            continue
        members = list(module.named_children()) if isinstance(module, nn.ModuleList) else []
        if members and all(_convs(m) > 1 for _, m in members):
            candidates = [f"{name}.{c}" for c, _ in members]
        else:
            candidates = [name]
        names += [n for n in candidates if not patterns or any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if not names:
        raise DetregError(f"--blocks: {list(patterns)} names no block of the model (e.g. backbone.stem)")
    return names


def quantized_convs(graph: Any) -> int:
    """How many convs of a converted graph take a dequantized (int8) weight."""
    return sum(
        1
        for n in graph.graph.nodes
        if n.op == "call_function" and "conv2d" in str(n.target) and "dequantize" in str(n.args[1].target)
    )


def sensitivity(
    cfg: Any,
    detector: nn.Module,
    names: list[str],
    img_size: Sequence[int],
    loader: Any,
    calib_batches: int,
    skip: Sequence[str] = (),
    batch_size: int | None = None,
    patterns: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Rows ``{block, mAP50_95, mAP50, drop, int8_convs}`` sorted by ``drop`` (largest first);
    the first row is the float model (``block: "float"``)."""
    from detreg.apps.evaluate import evaluate_model
    from detreg.quant.artifact import example_input
    from detreg.quant.backend import called_modules, convert, export_network, match_skip, prepare
    from detreg.quant.calibrate import calibrate
    from detreg.quant.model import DetectorNet, QuantDetector

    detector.eval().fuse()
    net = DetectorNet(detector)
    skipped = match_skip(net, skip)
    graph = export_network(net, example_input(img_size))

    def measure(model: nn.Module) -> dict[str, Any]:
        return evaluate_model(cfg, model, names, "cpu", batch_size=batch_size)[0]

    ref = measure(QuantDetector(graph, detector))
    rows = []
    for block in blocks(net, patterns):
        if any(block == s or block.startswith(s + ".") for s in skipped):
            continue
        graph_b = prepare(copy.deepcopy(graph), skipped, only=called_modules(net, [block]))
        model = QuantDetector(graph_b, detector)
        calibrate(model, loader, calib_batches)
        model.net = convert(model.net, fold=False)
        m = measure(model)
        rows.append(
            {
                "block": block,
                "mAP50_95": float(m.get("mAP50_95", 0.0)),
                "mAP50": float(m.get("mAP50", 0.0)),
                "drop": float(ref.get("mAP50_95", 0.0)) - float(m.get("mAP50_95", 0.0)),
                "int8_convs": quantized_convs(model.net),
            }
        )
    rows.sort(key=lambda r: -r["drop"])
    base = {"block": "float", "mAP50_95": float(ref.get("mAP50_95", 0.0)), "drop": 0.0}
    return [{**base, "mAP50": float(ref.get("mAP50", 0.0)), "int8_convs": 0}, *rows]


def sensitivity_table(rows: list[dict[str, Any]]) -> str:
    """``block  mAP50-95  drop  int8 convs``, most sensitive first (the float row on top)."""
    lines = [f"{'block':<32}{'mAP50-95':>10}{'drop':>10}{'int8 convs':>12}"]
    for r in rows:
        lines.append(f"{r['block']:<32}{r['mAP50_95']:>10.4f}{r['drop']:>+10.4f}{r['int8_convs']:>12d}")
    return "\n".join(lines)
