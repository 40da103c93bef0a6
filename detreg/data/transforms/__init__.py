"""Registered data transforms (see :mod:`detreg.data.transforms.base` for the interface)."""

from detreg.data.transforms.affine import RandomAffine
from detreg.data.transforms.base import Transform, TransformContext, standalone_context, transform_name
from detreg.data.transforms.color import ColorJitter, GaussianBlur, HSVAugment, RandomErasing, RandomGrayscale
from detreg.data.transforms.geometric import Letterbox, RandomFlip, Resize
from detreg.data.transforms.mix import MixUp, Mosaic

__all__ = [
    "ColorJitter",
    "GaussianBlur",
    "HSVAugment",
    "Letterbox",
    "MixUp",
    "Mosaic",
    "RandomAffine",
    "RandomErasing",
    "RandomFlip",
    "RandomGrayscale",
    "Resize",
    "Transform",
    "TransformContext",
    "standalone_context",
    "transform_name",
]
