"""Model complexity: parameter count and GFLOPs (YOLOv6's convention) at a given input size."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _flops_of(model: nn.Module, x: torch.Tensor) -> int:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return int(counter.get_total_flops())


def count_flops(model: nn.Module, img_size: int | tuple[int, int] = 640) -> int:
    """FLOPs of one eval-mode forward on a ``1x3xHxW`` input (multiply-add = 2 FLOPs).

    Runs on a meta-device copy (shapes only, no compute) and falls back to a real run.
    """
    h, w = (img_size, img_size) if isinstance(img_size, int) else img_size
    try:
        return _flops_of(copy.deepcopy(model).to("meta").eval(), torch.zeros(1, 3, h, w, device="meta"))
    except Exception:  # noqa: BLE001 - some op has no meta kernel: measure for real
        p = next(model.parameters())
        x = torch.zeros(1, 3, h, w, device=p.device, dtype=p.dtype)
        return _flops_of(copy.deepcopy(model).eval(), x)


def model_summary(
    model: nn.Module, img_size: int | tuple[int, int] = 640, probe_size: int | None = None
) -> dict[str, float | int]:
    """``{"params": int, "gflops": float, "layers": int}`` for ``model`` at ``img_size``.

    GFLOPs follow YOLOv6's report: thop MACs x 2, i.e. one multiply-add = 2 FLOPs, convs and
    matmuls only, which is what ``FlopCounterMode`` counts. With ``probe_size`` the count is
    taken at ``probe_size`` square and scaled by the area ratio, as YOLOv6's
    ``get_model_info`` does with 32; that matches exactly for stride <= 32 models but counts
    a stride-64 level (Lite) as if it had one cell per 32x32 patch (about +3% for Lite).
    ``layers`` is the number of modules. Fuse the model first to compare with YOLOv6's
    deploy-mode table.
    """
    h, w = (img_size, img_size) if isinstance(img_size, int) else img_size
    if probe_size is None:
        flops = count_flops(model, (h, w))
    else:
        flops = count_flops(model, probe_size) * (h / probe_size) * (w / probe_size)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "gflops": flops / 1e9,
        "layers": len(list(model.modules())),
    }


def config_summary(
    model_cfg: dict, img_size: int = 640, num_classes: int = 80, fuse: bool = True
) -> dict[str, float | int]:
    """:func:`model_summary` of the model a config's ``model:`` section describes.

    The model is built on the meta device (shapes only: no memory, no initialisation cost)
    and, with ``fuse``, fused to its deploy form as YOLOv6's tables report it.
    """
    from detreg.registry import MODELS

    with torch.device("meta"):
        model = MODELS.build(model_cfg, "model", {"num_classes": num_classes})
    model.eval()
    if fuse and hasattr(model, "fuse"):
        model.fuse()
    return model_summary(model, img_size)
