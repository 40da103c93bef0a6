"""Shared by the app tests: an untrained YOLOv6-N checkpoint whose head gives detections."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from head_helpers import randomise_head

SIZE = 64


def make_checkpoint(tmp: Path, img_size: int = SIZE) -> Path:
    """``tmp/best.pt``: YOLOv6-N with 3 classes, a head with varied scores and positive box
    distances (so detections exist), saved as the runner saves it (resolved config included)."""
    from detreg.config import run_context
    from detreg.engine.checkpoint import save_checkpoint
    from detreg.launch import prepare_config
    from detreg.registry import MODELS

    imgs = tmp / "train_images"
    imgs.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(imgs / "a.jpg"), np.full((32, 32, 3), 127, np.uint8))
    cfg = prepare_config(
        "yolov6n",
        [
            f"data.train.img_path={imgs}",
            f"data.val.img_path={imgs}",
            "data.nc=3",
            "data.names=[red, green, blue]",
            f"train.img_size={img_size}",
            "train.workers=0",
        ],
    )
    torch.manual_seed(0)
    model = MODELS.build(cfg.data["model"], "model", run_context(cfg.data))
    randomise_head(model)
    state = {"model": model.state_dict(), "ema": None, "config": cfg.data, "epoch": 1, "iter": 1}
    return save_checkpoint(state, tmp / "best.pt")
