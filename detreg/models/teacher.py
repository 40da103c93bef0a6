"""A frozen teacher model: its config (inline or from a config file), its weights, frozen.

Used by :class:`detreg.hooks.distill.DistillHook`. The teacher is built from a model
config, loaded shape-matched from a detreg checkpoint (or a bare state dict) with
``weights_only`` loading, put in ``eval()`` (BN uses its running statistics, which never
change) and has ``requires_grad`` off.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from detreg.engine.checkpoint import describe_mismatch, load_checkpoint, load_matching, model_state
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


def load_teacher_weights(
    model: nn.Module, path: str | Path, prefer_ema: bool, logger: logging.Logger
) -> tuple[int, int]:
    """Load ``path`` into ``model`` shape-matched; log one line; ``(loaded, total)``.

    A full load is logged at INFO; a partial one is a warning naming what did not fit; a
    file of which nothing fits is an error (a teacher with random weights teaches noise).
    """
    ckpt = load_checkpoint(path)
    state = model_state(ckpt, prefer_ema) if "model" in ckpt or "ema" in ckpt else ckpt
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items() if torch.is_tensor(v)}
    own = model.state_dict()
    mismatch = describe_mismatch(own, state)
    loaded, _ = load_matching(model, state)
    if not loaded:
        raise DetregError(f"teacher_weights {path}: no tensor fits the teacher's config: {mismatch}")
    if mismatch is None:
        logger.info("distill: teacher %s: loaded all %d tensors", path, len(own))
    else:
        logger.warning(
            "distill: teacher %s: loaded %d of %d tensors; the rest keep their initialisation: %s",
            path,
            len(loaded),
            len(own),
            mismatch,
        )
    return len(loaded), len(own)


def freeze(model: nn.Module) -> nn.Module:
    """``eval()`` mode and no gradients, for good; returns ``model``."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
