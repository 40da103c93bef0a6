"""Calibration data and the calibration pass of post-training quantization."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from detreg.errors import DetregError


def calibration_loader(cfg: Any, names: list[str], batch_size: int, workers: int = 0) -> Any:
    """Training images with the validation preprocessing (letterbox, no augmentation), shuffled
    with a fixed seed so the first batches are a spread of the set.

    ``cfg``: a :class:`~detreg.config.Config` or the plain resolved config dict (a runner's).
    """
    from detreg.config import run_context
    from detreg.data.loader import build_dataloader
    from detreg.registry import DATASETS

    full = getattr(cfg, "data", cfg)
    data = full.get("data") or {}
    train = data.get("train")
    if not isinstance(train, dict):
        raise DetregError("data.train: missing; calibration uses training images (pass --data my_data.yaml)")
    val = data.get("val") if isinstance(data.get("val"), dict) else {}
    spec = {k: v for k, v in train.items() if k not in ("transforms", "rect", "rect_pad")}
    spec["transforms"] = val.get("transforms") or [{"type": "Letterbox", "scaleup": False}]
    ctx = {**run_context(full), "num_classes": len(names), "class_names": names}
    dataset = DATASETS.build(spec, "data.train", ctx)
    return build_dataloader(dataset, batch_size=batch_size, workers=workers, shuffle=True, seed=0)


@torch.no_grad()
def calibrate(model: nn.Module, loader: Any, batches: int, train_mode: bool = False) -> int:
    """Run ``batches`` batches of ``loader`` through a prepared ``model``; returns images seen.

    ``train_mode``: for QAT fake-quantize modules, whose observers run in training mode only.
    """
    if batches < 1:
        raise DetregError(f"--calib-batches must be at least 1, got {batches}")
    model.train(train_mode)
    seen = 0
    for i, batch in enumerate(loader):
        if i >= batches:
            break
        model(batch["img"].float().div(255))
        seen += int(batch["img"].shape[0])
    if not seen:
        raise DetregError("calibration: the training set gave no images")
    return seen
