"""The RepOpt scales file: per-block branch scales found by a ``block: hyper_search`` run.

``detreg repopt-scales search.pt -o scales.pt`` writes it; ``optimizer: {type: RepOptSGD,
scales: scales.pt}`` reads it. It is plain data (loaded with ``weights_only=True``)::

    {"format": "detreg-repopt-scales", "version": 1, "source": "runs/train/hs/last.pt",
     "blocks": {"backbone.stem": {"conv3x3": Tensor[C], "conv1x1": Tensor[C]},
                "backbone.stages.0.1.0": {"conv3x3": ..., "conv1x1": ..., "identity": ...}}}

Blocks are keyed by their module name in the model, so the RepOpt model (``block: repopt``,
same architecture) finds each block's scales by name, not by position.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

FORMAT = "detreg-repopt-scales"
VERSION = 1
#: State-dict suffixes of the trainable scales of ``LinearAddBlock``, by branch.
SUFFIXES = {"conv3x3": ".scale_conv", "conv1x1": ".scale_1x1", "identity": ".scale_identity"}


@dataclass(frozen=True)
class BlockScales:
    """The per-output-channel scales of one hyper-search block (float32, 1-D, same length)."""

    conv3x3: Tensor
    conv1x1: Tensor
    identity: Tensor | None = None

    @property
    def channels(self) -> int:
        """Number of output channels."""
        return int(self.conv3x3.numel())


def extract_scales(state: Mapping[str, Any]) -> dict[str, BlockScales]:
    """The scales of every ``LinearAddBlock`` in a model ``state_dict``, by block name.

    A block is a prefix with ``.scale_conv`` and ``.scale_1x1`` entries (and
    ``.scale_identity`` when it has an identity branch). Raises ValueError when there is none.
    """
    blocks: dict[str, BlockScales] = {}
    for key in state:
        if not key.endswith(SUFFIXES["conv3x3"]):
            continue
        name = key[: -len(SUFFIXES["conv3x3"])]
        parts = {branch: state.get(name + suffix) for branch, suffix in SUFFIXES.items()}
        if parts["conv1x1"] is None:
            raise ValueError(f"block '{name}' has {key} but no {name}{SUFFIXES['conv1x1']}")
        blocks[name] = _checked(name, parts)
    if not blocks:
        raise ValueError(
            "no hyper-search block scales in these weights (train with block: hyper_search first, "
            "e.g. configs/repopt/yolov6n_hs.yaml)"
        )
    return blocks


def _checked(name: str, parts: Mapping[str, Any]) -> BlockScales:
    """A :class:`BlockScales` from tensors, after checking they are 1-D floats of one length."""
    out: dict[str, Tensor | None] = {}
    for branch in SUFFIXES:
        t = parts.get(branch)
        if t is None:
            if branch != "identity":
                raise ValueError(f"block '{name}': no {branch} scale")
            out[branch] = None
            continue
        if not isinstance(t, Tensor) or not t.is_floating_point() or t.dim() != 1:
            raise ValueError(f"block '{name}': the {branch} scale must be a 1-D float tensor")
        out[branch] = t.detach().to("cpu", torch.float32).clone()
    sizes = {t.numel() for t in out.values() if t is not None}
    if len(sizes) != 1:
        raise ValueError(f"block '{name}': scales of different lengths {sorted(sizes)}")
    return BlockScales(**out)


def save_scales(scales: Mapping[str, BlockScales], path: str | Path, source: str = "") -> Path:
    """Write ``scales`` to ``path`` (atomically: a temp file, then a rename)."""
    path = Path(path)
    blocks = {}
    for name, s in scales.items():
        entry = {"conv3x3": s.conv3x3, "conv1x1": s.conv1x1}
        if s.identity is not None:
            entry["identity"] = s.identity
        blocks[name] = entry
    data = {"format": FORMAT, "version": VERSION, "source": str(source), "blocks": blocks}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".writing")
    torch.save(data, tmp)
    os.replace(tmp, path)
    return path


def load_scales(path: str | Path) -> dict[str, BlockScales]:
    """Read a scales file written by :func:`save_scales` (plain data only; never runs code).

    Raises ValueError, naming the file, when it is missing or not a scales file.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"scales file not found: {path} (write one with `detreg repopt-scales SEARCH.pt`)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is "not a scales file"
        raise ValueError(f"{path}: not a RepOpt scales file ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a RepOpt scales file (write one with `detreg repopt-scales`)")
    if data.get("version") != VERSION:
        raise ValueError(f"{path}: scales file version {data.get('version')!r}, this detreg reads {VERSION}")
    blocks = data.get("blocks")
    if not isinstance(blocks, dict) or not blocks:
        raise ValueError(f"{path}: the scales file lists no blocks")
    try:
        return {str(name): _checked(str(name), parts) for name, parts in blocks.items()}
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
