"""The PT2E machinery: torchao import, export with dynamic shapes, quantizer, prepare, convert.

The flow (torch 2.13 + torchao): ``torch.export`` the fused network with a dynamic batch
(and height/width in multiples of 32) -> ``prepare_pt2e`` / ``prepare_qat_pt2e`` with
``X86InductorQuantizer`` (int8 per-channel symmetric weights, uint8 per-tensor activations)
-> calibrate or fine-tune -> ``convert_pt2e`` (quantize/dequantize ops around int8 weights,
which Inductor lowers to x86 int8 kernels and ONNX Runtime runs as QDQ).
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from detreg.errors import DetregError

INSTALL_HINT = "pip install 'detreg[quant]'  (or: pip install -c constraints.txt torchao)"
#: Largest batch the exported graph accepts.
MAX_BATCH = 4096


def require_torchao() -> Any:
    """The ``torchao`` module, or one clear error telling how to install it."""
    try:
        with warnings.catch_warnings(), _quiet_torchao_logs():
            warnings.simplefilter("ignore")
            import torchao
            import torchao.quantization.pt2e.quantize_pt2e  # noqa: F401
    except ImportError as exc:
        raise DetregError(f"quantization needs torchao ({exc.name} is missing): {INSTALL_HINT}") from None
    return torchao


class _quiet_torchao_logs:
    """Silence torchao's import-time notices about CUDA-only kernels it cannot load on CPU."""

    def __enter__(self) -> None:
        import logging

        self._logger = logging.getLogger("torchao")
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR)

    def __exit__(self, *exc: Any) -> None:
        self._logger.setLevel(self._level)


def export_network(net: nn.Module, example: torch.Tensor) -> torch.fx.GraphModule:
    """``torch.export`` ``net(images)`` with a dynamic batch, height and width (export infers
    the constraints the network puts on the sides, such as multiples of 32).

    A model whose forward cannot be captured raises a :class:`DetregError` naming the cause.
    """
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    shapes = ({0: batch, 2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO},)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(net, (example,), dynamic_shapes=shapes)
    except Exception as exc:  # noqa: BLE001 - torch.export fails in many ways; say it once
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DetregError(
            f"the model cannot be exported for quantization (torch.export: {first[:300]}); "
            "quantization needs a forward without data-dependent Python control flow"
        ) from None
    graph = program.module()
    allow_train_eval(graph)
    return graph


def module_names(net: nn.Module) -> list[str]:
    """Names of ``net``'s submodules (what ``skip`` patterns match)."""
    return [name for name, _ in net.named_modules() if name]


def match_skip(net: nn.Module, patterns: Sequence[str], where: str = "skip") -> list[str]:
    """The module names of ``net`` that ``patterns`` (fnmatch, e.g. ``head.cls_preds.*``) name.

    A pattern that names nothing is a :class:`DetregError` (a typo would silently quantize
    the layer it meant to keep in float).
    """
    names = module_names(net)
    chosen: list[str] = []
    for pat in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pat)]
        if not hits:
            tops = sorted({n.split(".")[0] for n in names})
            raise DetregError(
                f"{where}: pattern {pat!r} names no layer of the model "
                f"(names look like {', '.join(tops)}.<...>, e.g. {names[min(5, len(names) - 1)]})"
            )
        chosen += [n for n in hits if n not in chosen]
    # a parent covers its children; keep the outermost names
    outer = [n for n in chosen if not any(n.startswith(p + ".") for p in chosen if p != n)]
    return called_modules(net, outer)


def called_modules(net: nn.Module, names: Sequence[str]) -> list[str]:
    """``names`` with containers (``ModuleList``/``ModuleDict``, never called themselves, so
    absent from the exported graph's module stacks) replaced by their children."""
    modules = dict(net.named_modules())
    out: list[str] = []
    for name in names:
        if isinstance(modules[name], (nn.ModuleList, nn.ModuleDict)):
            children = [f"{name}.{c}" for c, _ in modules[name].named_children()]
            out += called_modules(net, children)
        else:
            out.append(name)
    return out


def make_quantizer(
    skip_modules: Sequence[str] = (), qat: bool = False, only: Sequence[str] | None = None
) -> Any:
    """``X86InductorQuantizer``: int8 everywhere it can, float for ``skip_modules`` (and below);
    with ``only``, int8 for those modules alone (sensitivity analysis)."""
    require_torchao()
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    config = xiq.get_default_x86_inductor_quantization_config(is_qat=qat)
    quantizer = xiq.X86InductorQuantizer()
    if only is None:
        quantizer.set_global(config)
    for name in only or ():
        quantizer.set_module_name_qconfig(name, config)
    for name in skip_modules:
        quantizer.set_module_name_qconfig(name, None)
    return quantizer


def prepare(
    graph: torch.fx.GraphModule,
    skip_modules: Sequence[str] = (),
    qat: bool = False,
    only: Sequence[str] | None = None,
) -> Any:
    """Insert observers (PTQ) or fake-quantize modules (QAT) into an exported graph
    (see :func:`make_quantizer` for ``skip_modules`` and ``only``)."""
    require_torchao()
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, prepare_qat_pt2e

    quantizer = make_quantizer(skip_modules, qat, only)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = (prepare_qat_pt2e if qat else prepare_pt2e)(graph, quantizer)
    allow_train_eval(prepared)
    return prepared


def convert(prepared: torch.fx.GraphModule, fold: bool = True) -> torch.fx.GraphModule:
    """Replace observers by quantize/dequantize ops with the observed scales; int8 weights
    (``fold=False``: the float weights quantized on the fly, same numbers, faster to convert)."""
    require_torchao()
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = convert_pt2e(prepared, fold_quantize=fold)
    allow_train_eval(converted)
    return converted


def allow_train_eval(graph: torch.fx.GraphModule) -> None:
    """Let ``.train()`` / ``.eval()`` work on an exported graph (torchao refuses them otherwise)."""
    from torchao.quantization.pt2e import allow_exported_model_train_eval

    allow_exported_model_train_eval(graph)


def observers(graph: nn.Module) -> list[nn.Module]:
    """The observer / fake-quantize modules of a prepared graph."""
    from torchao.quantization.pt2e import FakeQuantizeBase, ObserverBase

    return [m for m in graph.modules() if isinstance(m, (ObserverBase, FakeQuantizeBase))]


def is_converted(graph: nn.Module) -> bool:
    """Whether ``graph`` holds quantize/dequantize ops (converted) rather than observers."""
    return any(
        n.op == "call_function" and "quantize_per" in str(n.target)
        for n in getattr(graph, "graph", torch.fx.Graph()).nodes
    )
