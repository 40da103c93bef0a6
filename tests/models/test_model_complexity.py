"""Params / GFLOPs of the fused models at 640 (nc=80) against YOLOv6's table."""

from __future__ import annotations

import pytest
from model_helpers import build

from detreg.models.summary import model_summary


@pytest.mark.parametrize(
    "name,size,ref_params,ref_gflops,independent",
    [
        ("yolov6n", 640, 4.7e6, 11.4, (4.65e6, 11.3)),
        ("yolov6s", 640, 18.5e6, 45.3, (18.54e6, 45.0)),
        ("yolov6lite_s", 320, 0.55e6, 0.56, None),
    ],
)
def test_fused_complexity_matches_yolov6(name, size, ref_params, ref_gflops, independent) -> None:
    model = build(name, num_classes=80).eval().fuse()
    s = model_summary(model, size)
    assert abs(s["params"] / ref_params - 1) < 0.03, s
    if independent is not None:
        assert abs(s["gflops"] / ref_gflops - 1) < 0.03, s
        assert abs(s["params"] / independent[0] - 1) < 0.01, s
        assert abs(s["gflops"] / independent[1] - 1) < 0.01, s
    else:  # Lite: YOLOv6 measures at 32x32 and scales by area (see model_summary)
        v6 = model_summary(model, size, probe_size=32)
        assert abs(v6["gflops"] / ref_gflops - 1) < 0.03, v6
    assert s["layers"] > 100


def test_summary_does_not_touch_the_model() -> None:
    model = build("yolov6n", num_classes=80)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert model.training
    model_summary(model, 320)
    assert model.training
    after = model.state_dict()
    assert all(after[k].device.type == "cpu" and after[k].equal(v) for k, v in before.items())
