"""Shared by the quantization tests: a small YOLOv6-N checkpoint on the tiny synthetic set."""

from __future__ import annotations

from pathlib import Path

import torch
from head_helpers import randomise_head

SIZE = 64
#: Overrides for a small, fast YOLOv6-N at 64 px (depth 0.33 -> repeats of 1).
SMALL = [
    "model.backbone.num_repeats=[1,1,1,1,1]",
    "model.neck.num_repeats=[1,1,1,1]",
    f"train.img_size={SIZE}",
    "train.batch_size=4",
    "train.workers=0",
]


def make_float_checkpoint(tmp: Path, data_yaml: Path, name: str = "best.pt") -> Path:
    """``tmp/name``: an untrained small YOLOv6-N for ``data_yaml`` whose head gives varied
    scores and positive box distances (so detections exist), saved as the runner saves it."""
    from detreg.config import run_context
    from detreg.engine.checkpoint import save_checkpoint
    from detreg.launch import prepare_config
    from detreg.registry import MODELS

    cfg = prepare_config("yolov6n", SMALL, str(data_yaml))
    torch.manual_seed(0)
    model = MODELS.build(cfg.data["model"], "model", run_context(cfg.data))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    randomise_head(model)
    state = {"model": model.state_dict(), "ema": None, "config": cfg.data, "epoch": 1, "iter": 1}
    return save_checkpoint(state, tmp / name)
