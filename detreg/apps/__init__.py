"""The command-line applications: one module per command, all with the same shape.

Each app module has ``DESCRIPTION``, ``add_arguments(parser)`` (all its arguments, the
shared ones through :mod:`detreg.apps.common`) and ``run(args) -> int``; :mod:`detreg.cli`
only registers them. The helpers here serve the apps that work on a trained checkpoint
(eval, infer, export): the config to use for it, the model with its weights loaded (EMA
preferred), the class names and category ids.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detreg.errors import DetregError

if TYPE_CHECKING:
    import torch

    from detreg.config import Config


def check_weights(weights: str | Path | None) -> Path:
    """``weights`` as a path; one clear error when it is not given or not a file."""
    if not weights:
        raise DetregError("--weights: a checkpoint file is required (e.g. runs/train/exp/best.pt)")
    path = Path(weights)
    if not path.is_file():
        raise DetregError(f"weights not found: {path}")
    return path


def resolve_config(args: argparse.Namespace) -> Config:
    """The config for ``args.weights``: the one given (with overrides and ``--data``) or,
    with only ``--weights``, the one stored in the checkpoint.

    Export and inference need no dataset: the datasets are not validated (a config like
    ``configs/yolov6n.yaml`` alone is accepted); the class count and names then come from
    the checkpoint (or the weights). Every other problem is reported.
    """
    from detreg.apps.common import config_for_weights

    check_weights(args.weights)
    return config_for_weights(args, need_data=False)


def _raw_stored_config(ckpt: dict[str, Any]) -> dict[str, Any]:
    stored = ckpt.get("config")
    return stored if isinstance(stored, dict) else {}


def _num_classes_from_state(state: dict[str, Any]) -> int | None:
    """The class count read from the weights (the first class predictor's output channels)."""
    for key in sorted(state):
        if re.search(r"cls_preds\.0\.weight$", key):
            return int(state[key].shape[0])
    return None


def class_names(cfg: Config, ckpt: dict[str, Any], num_classes: int) -> list[str]:
    """Class names from the config's data, else the checkpoint's stored config, else ``class{i}``."""
    from detreg.config import run_context

    for source in (cfg.data, _raw_stored_config(ckpt)):
        names = run_context(source).get("class_names")
        if names is not None and len(names) == num_classes:
            return [str(n) for n in names]
    return [f"class{i}" for i in range(num_classes)]


def category_ids(cfg: Config, num_classes: int) -> list[int]:
    """COCO category id of each class index, as the validation dataset maps them: an explicit
    ``cat_ids`` list (``data.val`` or ``data``), else the sorted category ids of
    ``data.val.ann_file`` when that file is there, else the class index itself."""
    import json

    data = cfg.data.get("data") or {}
    val = data.get("val") if isinstance(data.get("val"), dict) else {}
    for ids in (val.get("cat_ids"), data.get("cat_ids")):
        if isinstance(ids, (list, tuple)) and len(ids) == num_classes:
            return [int(i) for i in ids]
    ann = val.get("ann_file")
    if isinstance(ann, str) and Path(ann).is_file():
        try:
            cats = json.loads(Path(ann).read_text(encoding="utf-8")).get("categories") or []
            ids = sorted(int(c["id"]) for c in cats)
        except (ValueError, KeyError, TypeError, AttributeError):
            ids = []
        if len(ids) == num_classes:
            return ids
    return list(range(num_classes))


def load_detector(
    cfg: Config, weights: str | Path, device: str | torch.device = "cpu", fuse: bool = True
) -> tuple[torch.nn.Module, list[str], dict[str, Any]]:
    """Build the config's model, load ``weights`` (EMA preferred), eval mode, optionally fused.

    An int8 file (``detreg quantize``, QAT) gives the converted int8 model
    (:func:`detreg.quant.artifact.load_quantized`; needs torchao).

    ``num_classes`` comes from the config's data, the checkpoint's stored config, or the
    weights themselves. Returns ``(model, class_names, checkpoint)``.
    """
    from detreg.config import run_context
    from detreg.engine.checkpoint import load_checkpoint, load_model_state, model_state
    from detreg.registry import MODELS

    ckpt = load_checkpoint(check_weights(weights))
    quantized = isinstance(ckpt.get("quantized"), dict)  # an int8 file: detreg.quant.artifact
    state = ckpt.get("quantized", {}).get("net", {}) if quantized else model_state(ckpt)
    ctx = {k: v for k, v in run_context(cfg.data).items() if k != "class_names"}
    nc = ctx.get("num_classes") or run_context(_raw_stored_config(ckpt)).get("num_classes")
    nc = nc or _num_classes_from_state(state)
    if not nc:
        raise DetregError(
            f"{weights}: cannot tell the number of classes (no data.nc / names in the config or "
            "the checkpoint); pass --data my_data.yaml or data.nc=N"
        )
    ctx["num_classes"] = int(nc)
    names = class_names(cfg, ckpt, int(nc))
    ctx["class_names"] = names
    model = MODELS.build(cfg.data["model"], "model", ctx)
    if quantized:
        from detreg.quant.artifact import load_quantized

        return load_quantized(model, ckpt, weights).to(device), names, ckpt
    load_model_state(model, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, weights)
    model.eval()
    if fuse and hasattr(model, "fuse"):
        model.fuse()
    return model.to(device), names, ckpt


def img_size_hw(value: list[int] | int | None, default: int) -> tuple[int, int]:
    """``(h, w)`` from ``--img-size`` (one value: square; two: H W)."""
    if value is None:
        return int(default), int(default)
    if isinstance(value, int):
        return value, value
    if len(value) == 1:
        return int(value[0]), int(value[0])
    if len(value) == 2:
        return int(value[0]), int(value[1])
    raise DetregError(f"--img-size takes one value (square) or two (H W), got {value}")
