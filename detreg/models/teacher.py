"""A frozen teacher model: its config (inline or from a config file), its weights, frozen.

Used by :class:`detreg.hooks.distill.DistillHook`. The teacher is built from a model
config, loaded shape-matched from a detreg checkpoint (or a bare state dict) with
``weights_only`` loading, put in ``eval()`` (BN uses its running statistics, which never
change) and has ``requires_grad`` off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from detreg.errors import DetregError


def teacher_model_config(spec: str | Mapping[str, Any]) -> dict[str, Any]:
    """The model config ``spec`` means: a mapping is the model config itself; a string
    names a config file (a path, or a built-in config such as ``yolov6s`` or
    ``distill/yolov6s_dfl.yaml``) whose ``model:`` section is taken.

    Raises ValueError (one line) when the file is missing or has no ``model:``.
    """
    if isinstance(spec, Mapping):
        return dict(spec)
    from detreg.builtin_configs import find_config
    from detreg.config import load_config

    try:
        cfg = load_config(find_config(spec))
    except DetregError as exc:
        raise ValueError(f"teacher: {exc}") from None
    model = cfg.data.get("model")
    if not isinstance(model, Mapping):
        raise ValueError(f"teacher: {spec} has no 'model:' section to build the teacher from")
    return dict(model)


def freeze(model: nn.Module) -> nn.Module:
    """``eval()`` mode and no gradients, for good; returns ``model``."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
