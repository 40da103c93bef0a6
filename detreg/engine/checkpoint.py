"""Checkpoint files: plain state dicts, written atomically, loaded with ``weights_only``.

A checkpoint is a dict of plain state (contract): ``model``, ``ema``, ``optimizer``,
``scheduler``, ``scaler``, ``hooks``, ``epoch`` (epochs completed), ``iter``, ``config``
(resolved), ``versions``; detreg adds ``train_step`` and ``rng``. Never a pickled module.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from detreg.errors import DetregError

#: The temp-file names :func:`save_checkpoint` writes (``.last.pt.k3j_9x2a.tmp``): mkstemp's
#: 8 random characters between ``.<name>.`` and ``.tmp``. Only these are ever cleaned up.
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically: temp file in the same folder, fsync, rename.

    A crash while writing leaves the previous file intact. Refuses (:class:`DetregError`)
    to write model or EMA weights that are not finite, and turns a failed write (disk
    full, read-only folder) into one line saying what, why, and that the previous file
    is intact.
    """
    path = Path(path)
    bad = nonfinite_tensors(state)
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise DetregError(
            f"refusing to write {path}: {len(bad)} weight tensors are not finite (NaN/inf: {shown}); "
            f"{_previous(path)}"
        )
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        why = exc.strerror or str(exc)
        raise DetregError(f"could not write checkpoint {path}: {why}; {_previous(path)}") from exc
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


def nonfinite_tensors(state: dict[str, Any]) -> list[str]:
    """Names of the floating-point model/EMA weights in ``state`` holding NaN or inf.

    One fused norm per group (``torch._foreach_norm``), so checking costs little.
    """
    groups = {"model": state.get("model"), "ema": state.get("ema")}
    if isinstance(groups["ema"], dict) and isinstance(groups["ema"].get("module"), dict):
        groups["ema"] = groups["ema"]["module"]
    bad: list[str] = []
    for prefix, weights in groups.items():
        if not isinstance(weights, dict):
            continue
        names = [k for k, v in weights.items() if torch.is_tensor(v) and v.is_floating_point() and v.numel()]
        if not names:
            continue
        norms = torch._foreach_norm([weights[k].detach().float() for k in names])
        finite = torch.isfinite(torch.stack([n.cpu() for n in norms]))
        if not bool(finite.all()):
            bad += [f"{prefix}.{names[i]}" for i in (~finite).nonzero().flatten().tolist()]
    return bad


def clean_temp_files(folder: str | Path) -> list[Path]:
    """Remove the temp files an interrupted :func:`save_checkpoint` left in ``folder``.

    Only names of detreg's own pattern (:data:`TEMP_NAME`) ending in ``.pt.<8 chars>.tmp``
    are touched; call it only while holding the folder's lock. Returns what was removed.
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        m = TEMP_NAME.match(p.name)
        if m and m["name"].endswith(".pt") and p.is_file():
            _remove_quietly(str(p))
            removed.append(p)
    return removed


def _previous(path: Path) -> str:
    return f"the previous {path.name} is intact" if path.is_file() else f"no {path.name} was written before"


def _remove_quietly(tmp: str | None) -> None:
    if tmp is not None:
        try:
            Path(tmp).unlink(missing_ok=True)
        except OSError:
            pass


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
