"""Shared by the app and quantization tests: give an untrained detector's head varied outputs."""

from __future__ import annotations

import torch


def randomise_head(model: torch.nn.Module) -> None:
    """Varied class scores and positive box distances, so an untrained model gives detections."""
    with torch.no_grad():
        for conv in model.head.cls_preds:
            conv.weight.normal_(0, 0.05)
            conv.bias.normal_(0, 0.5)
        for conv in model.head.reg_preds:
            conv.weight.normal_(0, 0.01)
            conv.bias.uniform_(0.5, 3.0)
