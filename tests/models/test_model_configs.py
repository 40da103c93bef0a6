"""The yaml configs: building through the registry, eval forward shapes, width checks."""

from __future__ import annotations

import pytest
import torch
from model_helpers import CONFIGS, build, model_cfg

from detreg.models.detector import Detector
from detreg.registry import MODELS


@pytest.mark.parametrize("name", CONFIGS)
def test_configs_build_through_registry(name: str) -> None:
    model = build(name, num_classes=80)
    assert isinstance(model, Detector)
    assert model.num_classes == 80 and model.head.num_classes == 80
    expected = [8, 16, 32, 64] if "lite" in name else [8, 16, 32]
    assert model.strides == expected


@pytest.mark.parametrize("name,size", [("yolov6n", 128), ("yolov6lite_s", 128)])
def test_eval_forward_shapes(name: str, size: int) -> None:
    model = build(name, num_classes=5).eval()
    with torch.no_grad():
        pred = model(torch.rand(2, 3, size, size + 64))
    cells = sum((size // s) * ((size + 64) // s) for s in model.strides)
    assert pred.shape == (2, cells, 4 + 5)
    assert torch.all((pred[..., 4:] >= 0) & (pred[..., 4:] <= 1))


def test_head_gets_num_classes_from_the_detector() -> None:
    cfg = model_cfg("yolov6n")
    cfg["num_classes"] = 3  # set on the detector only; no run context
    model = MODELS.build(cfg)
    assert model.head.cls_preds[0].out_channels == 3
    assert MODELS.get("YOLOv6") is Detector


def test_width_mismatch_is_reported() -> None:
    cfg = model_cfg("yolov6n")
    cfg["neck"]["width_multiple"] = 0.5
    with pytest.raises(Exception, match="expects"):
        MODELS.build(cfg, context={"num_classes": 80})
