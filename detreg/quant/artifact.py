"""Building a quantizable detector, and the int8 file: plain tensors, rebuilt on load.

An int8 file is a detreg checkpoint (``torch.load(weights_only=True)``; no pickled module,
no code) with::

    quantized: {format, mode ("ptq" | "qat"), skip: [module names kept float],
                img_size: [H, W], net: state of the prepared graph (float weights and
                the observers' ranges / learned fake-quantize scales)}
    int8:      state of the converted graph (int8 weights, per-channel scales): for
               inspection; loading checks it against the rebuilt model
    config:    the resolved training config;  names: class names

Loading (:func:`load_quantized`) rebuilds the same graph from the config (build, fuse,
export, prepare with the same ``skip``), loads ``net`` and converts: the same
quantize/dequantize ops and int8 weights, without trusting the file with any code.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence, Set
from pathlib import Path
from typing import Any

import torch
from torch import nn

from detreg.errors import DetregError
from detreg.quant.backend import convert, export_network, match_skip, prepare
from detreg.quant.model import DetectorNet, QuantDetector

FORMAT = "detreg-int8/1"
MODES = ("ptq", "qat")


def is_quantized(ckpt: dict[str, Any]) -> bool:
    """Whether a loaded checkpoint dict is an int8 file (from ``detreg quantize`` or QAT)."""
    return isinstance(ckpt.get("quantized"), dict)


def example_input(img_size: Sequence[int], batch: int = 2) -> torch.Tensor:
    """The tracing input: ``[batch, 3, H, W]`` with H, W rounded up to multiples of 32."""
    h, w = (int(-(-int(s) // 32) * 32) for s in img_size)
    return torch.rand(batch, 3, h, w, generator=torch.Generator().manual_seed(0))


def quantizable(
    detector: nn.Module, img_size: Sequence[int], skip: Sequence[str] = (), qat: bool = False
) -> tuple[QuantDetector, list[str]]:
    """``detector`` fused, exported and prepared (observers, or fake-quantize for ``qat``).

    Returns the :class:`QuantDetector` and the module names ``skip`` matched (kept float).
    The detector is fused in place (RepVGG branches merged, Conv+BN folded).
    """
    if isinstance(detector, QuantDetector):
        raise DetregError("the model is already quantized; start from a float checkpoint")
    if not all(hasattr(detector, a) for a in ("backbone", "neck", "head")):
        raise DetregError(
            f"{type(detector).__name__} cannot be quantized: detreg quantizes a Detector "
            "(backbone, neck, head)"
        )
    detector.eval()
    if hasattr(detector, "fuse"):
        detector.fuse()
    net = DetectorNet(detector)
    skipped = match_skip(net, skip)
    graph = export_network(net, example_input(img_size))
    return QuantDetector(prepare(graph, skipped, qat), detector), skipped


def net_state(model: QuantDetector) -> dict[str, torch.Tensor]:
    """A detached copy of the graph's state (what ``quantized.net`` stores)."""
    return {k: v.detach().clone() for k, v in model.net.state_dict().items()}


def convert_model(model: QuantDetector) -> QuantDetector:
    """Convert a prepared (calibrated or QAT-trained) model in place; returns it in eval mode."""
    model.net = convert(model.net)
    return model.eval()


def int8_checkpoint(
    model: QuantDetector,
    mode: str,
    skip: Sequence[str],
    img_size: Sequence[int],
    config: dict[str, Any],
    names: Sequence[str],
) -> tuple[QuantDetector, dict[str, Any]]:
    """Convert the prepared ``model``; returns ``(converted model, int8 file contents)``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    prepared = net_state(model)
    converted = convert_model(model)
    ckpt = {
        "quantized": {
            "format": FORMAT,
            "mode": mode,
            "skip": list(skip),
            "img_size": [int(s) for s in img_size],
            "net": prepared,
        },
        "int8": {k: v.detach().clone() for k, v in converted.net.state_dict().items()},
        "config": config,
        "names": list(names),
    }
    return converted, ckpt


def load_quantized(detector: nn.Module, ckpt: dict[str, Any], source: str | Path) -> QuantDetector:
    """Rebuild the converted int8 model of an int8 file from the freshly built float ``detector``."""
    q = ckpt["quantized"]
    if q.get("format") != FORMAT or q.get("mode") not in MODES:
        raise DetregError(
            f"{source}: unknown int8 file format {q.get('format')!r} (this detreg reads {FORMAT})"
        )
    constants = _non_persistent(detector)
    model, _ = quantizable(detector, q["img_size"], q.get("skip") or [], qat=q["mode"] == "qat")
    load_net_state(model, q["net"], source, constants)
    model = convert_model(model)
    stored = ckpt.get("int8")
    if isinstance(stored, dict):
        own = model.net.state_dict()
        bad = [k for k, v in stored.items() if k not in own or not torch.equal(own[k], v)]
        if bad or len(own) != len(stored):
            raise DetregError(
                f"{source}: the rebuilt int8 model differs from the stored one ({len(bad)} tensors, "
                f"e.g. {bad[:1]}); was it written by another torch/torchao version?"
            )
    return model


def _non_persistent(module: nn.Module) -> set[str]:
    """Names of ``module``'s non-persistent buffers (constants such as the DFL bins)."""
    return {
        f"{name}.{b}" if name else b
        for name, m in module.named_modules()
        for b in getattr(m, "_non_persistent_buffers_set", ())
    }


def load_net_state(
    model: QuantDetector,
    state: dict[str, torch.Tensor],
    source: str | Path,
    constants: Set[str] = frozenset(),
) -> None:
    """Load a prepared graph's state; the exported graph may or may not list the detector's
    non-persistent constants (``constants``), which are rebuilt, so only those may differ."""
    # the observers read their format version from the state's metadata (without it they
    # reset ``eps``); a plain dict from a file has none: take the rebuilt graph's own
    own = model.net.state_dict()
    state = collections.OrderedDict(state)
    state._metadata = getattr(own, "_metadata", None)  # type: ignore[attr-defined]
    try:
        result = model.net.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DetregError(f"{source}: the int8 file does not fit the model ({first[:200]})") from None
    bad = [k for k in [*result.missing_keys, *result.unexpected_keys] if k not in constants]
    if bad:
        raise DetregError(
            f"{source}: the int8 file does not fit the model: {len(bad)} tensors differ, e.g. {bad[:3]} "
            "(another config or skip list?)"
        )
