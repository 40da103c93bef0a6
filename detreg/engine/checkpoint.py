"""Checkpoint files: plain state dicts, written atomically, loaded with ``weights_only``.

A checkpoint is a dict of plain state (contract): ``model``, ``ema``, ``optimizer``,
``scheduler``, ``scaler``, ``hooks``, ``epoch`` (epochs completed), ``iter``, ``config``
(resolved), ``versions``; detreg adds ``train_step`` and ``rng``. Never a pickled module.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from detreg.errors import DetregError


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically: temp file in the same folder, fsync, rename.

    A crash while writing leaves the previous file intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``torch.load(weights_only=True)``.

    Refuses files holding pickled objects (modules, arbitrary classes) with a clear error.
    """
    path = Path(path)
    if not path.is_file():
        raise DetregError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DetregError(
            f"{path}: refusing to load: it holds pickled Python objects, not plain state "
            f"(weights_only=True): {first}"
        ) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise DetregError(f"{path}: not a readable checkpoint: {exc}") from exc
    if not isinstance(ckpt, dict):
        raise DetregError(f"{path}: a checkpoint must be a dict of state, got {type(ckpt).__name__}")
    return ckpt


def model_state(ckpt: dict[str, Any], prefer_ema: bool = True) -> dict[str, torch.Tensor]:
    """The model weights in ``ckpt``: the EMA weights when present and preferred."""
    ema = ckpt.get("ema")
    if prefer_ema and isinstance(ema, dict) and ema:
        return ema.get("module", ema)
    state = ckpt.get("model")
    if not isinstance(state, dict):
        raise DetregError("checkpoint has no 'model' state dict")
    return state


def load_matching(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    """Load the entries of ``state`` whose name and shape match ``model`` (finetuning).

    Returns ``(loaded, skipped)`` key lists; skipped = missing in the model, shape
    mismatch, or model keys the state does not have.
    """
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    skipped = sorted(set(own) - set(usable)) + sorted(k for k in state if k not in usable and k not in own)
    return sorted(usable), skipped
