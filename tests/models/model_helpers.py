"""Helpers for the model tests: config loading and BN randomisation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ["yolov6n", "yolov6s", "yolov6m", "yolov6l", "yolov6lite_s", "yolov6lite_m", "yolov6lite_l"]


def model_cfg(name: str, with_loss: bool = False) -> dict[str, Any]:
    """The ``model:`` section of ``configs/<name>.yaml`` (loss removed unless asked for)."""
    cfg = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())["model"]
    cfg = copy.deepcopy(cfg)
    if not with_loss:
        cfg.pop("loss", None)
    return cfg


def build(name: str, num_classes: int = 80, with_loss: bool = False) -> nn.Module:
    """Build ``configs/<name>.yaml``'s model through the registry with a run context."""
    from detreg.registry import MODELS

    return MODELS.build(model_cfg(name, with_loss), context={"num_classes": num_classes})


@torch.no_grad()
def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BN random statistics/affine params and every predictor random weights,
    so that fusion tests compare non-trivial functions."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.copy_(torch.rand(n, generator=g) - 0.5)
    head = getattr(model, "head", None)
    if head is not None:
        for conv in [*head.cls_preds, *head.reg_preds]:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.01)
    return model
