"""Params / GFLOPs of the YOLOv6 family (fused, nc=80) next to YOLOv6's README table.

Run: ``python benchmarks/model_complexity.py`` (about a minute on 2 CPU cores).
GFLOPs use YOLOv6's convention (thop MACs x 2 = FLOPs with a multiply-add counted as 2).
"GFLOPs" is the exact count at the given size; "v6-way" measures at 32x32 and scales by area
as YOLOv6's ``get_model_info`` does (identical for N/S/M/L; it over-counts Lite's stride-64
level, which is why YOLOv6's Lite FLOPs are about 3% above the exact count).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import yaml

from detreg.models.summary import model_summary
from detreg.registry import MODELS

ROOT = Path(__file__).resolve().parents[1]

# name: (config, image size, YOLOv6 params M, YOLOv6 GFLOPs)
REFERENCE = {
    "YOLOv6-N": ("yolov6n.yaml", 640, 4.7, 11.4),
    "YOLOv6-S": ("yolov6s.yaml", 640, 18.5, 45.3),
    "YOLOv6-M": ("yolov6m.yaml", 640, 34.9, 85.8),
    "YOLOv6-L": ("yolov6l.yaml", 640, 59.6, 150.7),
    "YOLOv6-Lite-S": ("yolov6lite_s.yaml", 320, 0.55, 0.56),
    "YOLOv6-Lite-M": ("yolov6lite_m.yaml", 320, 0.79, 0.67),
    "YOLOv6-Lite-L": ("yolov6lite_l.yaml", 320, 1.09, 0.87),
}


def build(config: str):
    """The model of ``configs/<config>`` for 80 classes, without its loss."""
    cfg = yaml.safe_load((ROOT / "configs" / config).read_text())["model"]
    cfg = copy.deepcopy(cfg)
    cfg.pop("loss", None)
    return MODELS.build(cfg, context={"num_classes": 80})


def main() -> None:
    """Print the table."""
    print(
        f"{'model':<15}{'size':>5}{'params M':>10}{'ref':>7}{'diff':>8}"
        f"{'GFLOPs':>9}{'v6-way':>8}{'ref':>8}{'diff':>8}{'v6-way diff':>12}"
    )
    for name, (config, size, ref_p, ref_f) in REFERENCE.items():
        t = time.time()
        model = build(config).eval().fuse()
        s = model_summary(model, size)
        v6 = model_summary(model, size, probe_size=32)["gflops"]
        p, f = s["params"] / 1e6, s["gflops"]
        print(
            f"{name:<15}{size:>5}{p:>10.3f}{ref_p:>7.2f}{100 * (p / ref_p - 1):>+7.1f}%"
            f"{f:>9.2f}{v6:>8.2f}{ref_f:>8.2f}{100 * (f / ref_f - 1):>+7.1f}%"
            f"{100 * (v6 / ref_f - 1):>+11.1f}%   ({time.time() - t:.1f}s)"
        )


if __name__ == "__main__":
    main()
