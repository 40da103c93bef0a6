"""Default transform lists (config form) matching YOLOv6's N/S data augmentation."""

from __future__ import annotations

from typing import Any


def train_transforms(
    mosaic: float = 1.0,
    mixup: float = 0.0,
    degrees: float = 0.0,
    translate: float = 0.1,
    scale: float = 0.5,
    shear: float = 0.0,
    hsv: tuple[float, float, float] = (0.015, 0.7, 0.4),
    fliplr: float = 0.5,
    flipud: float = 0.0,
) -> list[dict[str, Any]]:
    """YOLOv6 training pipeline: Mosaic -> RandomAffine -> MixUp -> HSV -> flips."""
    return [
        {"type": "Mosaic", "prob": mosaic},
        {"type": "RandomAffine", "degrees": degrees, "translate": translate, "scale": scale, "shear": shear},
        {"type": "MixUp", "prob": mixup},
        {"type": "HSVAugment", "hgain": hsv[0], "sgain": hsv[1], "vgain": hsv[2]},
        {"type": "RandomFlip", "horizontal": fliplr, "vertical": flipud},
    ]


def val_transforms() -> list[dict[str, Any]]:
    """Validation: letterbox into the (rect) shape without enlarging."""
    return [{"type": "Letterbox", "scaleup": False}]


def strong_transforms() -> list[dict[str, Any]]:
    """Strong view for semi-supervised training (PaddleDetection's defaults)."""
    return [
        {
            "type": "ColorJitter",
            "brightness": 0.4,
            "contrast": 0.4,
            "saturation": 0.4,
            "hue": 0.1,
            "prob": 0.8,
        },
        {"type": "RandomGrayscale", "prob": 0.2},
        {"type": "GaussianBlur", "prob": 0.5, "sigma": [0.1, 2.0]},
        {"type": "RandomErasing", "prob": 0.7, "scale": [0.05, 0.2], "ratio": [0.3, 3.3], "count": 1},
    ]
