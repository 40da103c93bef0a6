"""QDQ ONNX export of a converted int8 model.

A converted PT2E graph holds ``quantized_decomposed`` quantize/dequantize ops around int8
weights. The symbolics registered here write them as ONNX ``QuantizeLinear`` /
``DequantizeLinear`` (activations per tensor, uint8; weights per output channel, int8
initializers), the QDQ form ONNX Runtime (and TensorRT) fuse into int8 kernels.
"""

from __future__ import annotations

from typing import Any

import torch

_INT8, _UINT8 = 3, 2  # ONNX TensorProto element types


def _const(value: Any, kind: str, name: str) -> Any:
    from torch.onnx import symbolic_helper

    return symbolic_helper._get_const(value, kind, name)


def _scale_zero_point(g: Any, scale: Any, zero_point: Any, quant_min: Any) -> tuple[Any, Any]:
    """Per-tensor scale and zero point as constants (uint8 unless the range is signed)."""
    signed = _const(quant_min, "i", "quant_min") < 0
    s = g.op("Constant", value_t=torch.tensor(_const(scale, "f", "scale"), dtype=torch.float32))
    zp = torch.tensor(_const(zero_point, "i", "zero_point"), dtype=torch.int8 if signed else torch.uint8)
    return s, g.op("Constant", value_t=zp)


def _quantize_per_tensor(g: Any, x: Any, scale: Any, zero_point: Any, qmin: Any, *_: Any) -> Any:
    s, zp = _scale_zero_point(g, scale, zero_point, qmin)
    return g.op("QuantizeLinear", x, s, zp)


def _dequantize_per_tensor(g: Any, x: Any, scale: Any, zero_point: Any, qmin: Any, *_: Any) -> Any:
    s, zp = _scale_zero_point(g, scale, zero_point, qmin)
    return g.op("DequantizeLinear", x, s, zp)


def _dequantize_per_channel(
    g: Any, w: Any, scales: Any, zero_points: Any, axis: Any, qmin: Any, *_: Any
) -> Any:
    to = _INT8 if _const(qmin, "i", "quant_min") < 0 else _UINT8
    zp = g.op("Cast", zero_points, to_i=to)
    return g.op("DequantizeLinear", w, scales, zp, axis_i=_const(axis, "i", "axis"))


def register_qdq_symbolics(opset: int) -> None:
    """Teach the TorchScript ONNX exporter the ``quantized_decomposed`` ops (QDQ form)."""
    for name, fn in (
        ("quantize_per_tensor", _quantize_per_tensor),
        ("dequantize_per_tensor", _dequantize_per_tensor),
        ("dequantize_per_channel", _dequantize_per_channel),
    ):
        torch.onnx.register_custom_op_symbolic(f"quantized_decomposed::{name}", fn, opset)


def qdq_counts(path: str) -> dict[str, int]:
    """How many ``QuantizeLinear`` / ``DequantizeLinear`` nodes and int8 initializers ``path`` has."""
    import onnx

    proto = onnx.load(path)
    ops = [n.op_type for n in proto.graph.node]
    return {
        "QuantizeLinear": ops.count("QuantizeLinear"),
        "DequantizeLinear": ops.count("DequantizeLinear"),
        "int8_initializers": sum(1 for t in proto.graph.initializer if t.data_type == _INT8),
    }
