"""Checkpoint files: plain state dicts, written atomically, loaded with ``weights_only``.

A checkpoint is a dict of plain state (contract): ``model``, ``optimizer``, ``scheduler``,
``train_step`` (its counters and the GradScaler state), ``hooks``, ``epoch`` (epochs
completed), ``iter``, ``config`` (resolved), ``versions``, ``rng``, plus top-level entries
hooks add in ``on_save_checkpoint`` (``EMAHook``: ``ema``, which eval/export/infer prefer).
Never a pickled module.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
import warnings
from dataclasses import dataclass, field
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


ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since 1.6
PICKLE_MAGIC = b"\x80"  # the legacy format: a pickle, protocol 2+


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``torch.load(weights_only=True)``.

    Anything else given as a checkpoint (an ONNX model, a YAML file, an empty or random
    file) is "not a detreg checkpoint", said in one line; a file holding pickled objects
    (modules, arbitrary classes) is refused by name. PyTorch's advice to retry with
    ``weights_only=False`` is never repeated: that would run the file's code.
    """
    path = Path(path)
    if not path.is_file():
        raise DetregError(f"checkpoint not found: {path}")
    head = _head(path)
    if not head.startswith((ZIP_MAGIC, PICKLE_MAGIC)):
        raise DetregError(f"{path}: not a detreg checkpoint: {_what_is(path, head)}")
    try:
        with warnings.catch_warnings():  # "Detected pickle protocol N": noise for a file we refuse anyway
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\._weights_only_unpickler")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:
            raise DetregError(
                f"{path}: refusing to load: it holds a pickled Python object ({found.group(1)}), and "
                "detreg never loads code from a checkpoint; a detreg checkpoint holds only tensors and "
                "plain values"
            ) from None
        raise DetregError(f"{path}: not a detreg checkpoint: its contents are not plain state") from None
    except EOFError:
        raise DetregError(f"{path}: not a detreg checkpoint: the file ends early (truncated?)") from None
    except (RuntimeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DetregError(f"{path}: not a readable detreg checkpoint ({first[:160]})") from None
    except Exception as exc:  # noqa: BLE001 - random bytes after a pickle header fail in many ways
        raise DetregError(
            f"{path}: not a detreg checkpoint: its contents are not plain state ({type(exc).__name__})"
        ) from None
    if not isinstance(ckpt, dict):
        raise DetregError(f"{path}: not a detreg checkpoint: it holds a {type(ckpt).__name__}, not a dict")
    return ckpt


def _head(path: Path, n: int = 512) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise DetregError(f"{path}: cannot read: {exc.strerror}") from None


def _what_is(path: Path, head: bytes) -> str:
    """What a file that is not a PyTorch checkpoint looks like, for the error message."""
    if not head:
        return "the file is empty (0 bytes)"
    if path.suffix.lower() == ".onnx" or (head[:1] == b"\x08" and b"onnx" in head.lower()):
        return "it is an ONNX model (an export); --weights and --resume take a .pt written by training"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text:
        kind = (
            "a YAML/text file" if path.suffix.lower() in (".yaml", ".yml", ".json", ".txt") else "a text file"
        )
        return f"it is {kind}; a config goes as the first argument, weights come from a training run's .pt"
    return "unknown format (neither a PyTorch archive nor a pickle); a detreg checkpoint is a training .pt"


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
    mismatch, or model keys the state does not have. :func:`load_pretrained` does the same
    with a per-module :class:`LoadReport`.
    """
    report = load_pretrained(model, state)
    skipped = sorted(report.shape_mismatched + report.missing + report.reinitialised) + sorted(
        report.unexpected
    )
    return sorted(report.loaded), skipped


@dataclass
class LoadReport:
    """What a partial load did, key by key (every model key is in exactly one of the first four).

    Attributes:
        loaded: model keys taken from the file (name and shape match).
        shape_mismatched: keys in both, with different shapes (the model keeps its own).
        missing: model keys the file lacks.
        reinitialised: keys of the class predictors deliberately not loaded because the
            classes differ (they keep the model's fresh initialisation).
        unexpected: file keys the model lacks.
        shapes: for mismatched keys, ``(file shape, model shape)``.
    """

    loaded: list[str] = field(default_factory=list)
    shape_mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    reinitialised: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)

    @property
    def model_total(self) -> int:
        """Number of tensors of the model."""
        return len(self.loaded) + len(self.shape_mismatched) + len(self.missing) + len(self.reinitialised)

    @property
    def fraction_loaded(self) -> float:
        """Loaded tensors over the model's tensors (1.0 for an empty model)."""
        return len(self.loaded) / self.model_total if self.model_total else 1.0

    @property
    def complete(self) -> bool:
        """True when every model tensor was loaded and the file had nothing else."""
        return not (self.shape_mismatched or self.missing or self.reinitialised or self.unexpected)

    def by_module(self, depth: int = 1) -> dict[str, dict[str, int]]:
        """Counts per module (the first ``depth`` names of each key), in model order."""
        out: dict[str, dict[str, int]] = {}
        kinds = ("loaded", "shape_mismatched", "missing", "reinitialised", "unexpected")
        for kind in kinds:
            for key in getattr(self, kind):
                module = ".".join(key.split(".")[:depth])
                row = out.setdefault(module, dict.fromkeys(kinds, 0))
                row[kind] += 1
        return out

    def table(self) -> list[str]:
        """The per-module report: one row per top-level module, plus one row per second-level
        module where something was not loaded."""
        cols = ("loaded", "shape_mismatched", "missing", "reinitialised", "unexpected")
        heads = ("loaded", "shape", "missing", "reinit", "unexpected")
        top = self.by_module(1)
        detail = {m: r for m, r in self.by_module(2).items() if r["loaded"] != sum(r.values())}
        rows = []
        for module, counts in top.items():
            rows.append((module, counts))
            rows += [(f"  {m}", r) for m, r in detail.items() if m.split(".")[0] == module and "." in m]
        width = max([len("module"), *(len(m) for m, _ in rows)])
        lines = [f"  {'module':<{width}}  " + "  ".join(f"{h:>10}" for h in heads)]
        for module, counts in rows:
            lines.append(f"  {module:<{width}}  " + "  ".join(f"{counts[c]:>10}" for c in cols))
        return lines


def class_predictor_prefixes(model: torch.nn.Module) -> list[str]:
    """State-dict prefixes of the model's class predictors (the layers whose outputs are the
    classes): the children a module names in its ``CLASS_PREDICTORS`` attribute (a detreg
    head: ``head.cls_preds``, ``head.cls_preds_ab``)."""
    out = []
    for name, module in model.named_modules():
        for child in getattr(module, "CLASS_PREDICTORS", ()):
            if isinstance(getattr(module, child, None), torch.nn.Module):
                out.append(f"{name}.{child}" if name else child)
    return out


def load_pretrained(
    model: torch.nn.Module, state: dict[str, Any], reinit: list[str] | tuple[str, ...] = ()
) -> LoadReport:
    """Load the entries of ``state`` whose name and shape match ``model``; keys under a prefix
    in ``reinit`` (module names, e.g. the class predictors when the classes differ) are never
    loaded. Returns the :class:`LoadReport`. Floating tensors are cast to the model's dtype.
    """
    own = model.state_dict()
    theirs = {k: v for k, v in state.items() if torch.is_tensor(v)}
    report = LoadReport()
    usable = {}
    for key, value in own.items():
        if any(key == p or key.startswith(p + ".") for p in reinit):
            report.reinitialised.append(key)
        elif key not in theirs:
            report.missing.append(key)
        elif tuple(theirs[key].shape) != tuple(value.shape):
            report.shape_mismatched.append(key)
            report.shapes[key] = (tuple(theirs[key].shape), tuple(value.shape))
        else:
            report.loaded.append(key)
            t = theirs[key]
            usable[key] = t.to(value.dtype) if t.is_floating_point() and value.is_floating_point() else t
    report.unexpected = [k for k in theirs if k not in own]
    model.load_state_dict(usable, strict=False)
    return report


def checkpoint_classes(
    ckpt: dict[str, Any], state: dict[str, Any], predictor: str | None
) -> tuple[int | None, list[str] | None]:
    """The number of classes of the weights ``state`` (from the first tensor under the class
    predictor prefix ``predictor``) and the class names the checkpoint's config recorded;
    None for what is not known."""
    nc = None
    if predictor:
        key = next((k for k in state if k.startswith(predictor + ".") and k.endswith("weight")), None)
        if key is not None and torch.is_tensor(state[key]) and state[key].ndim:
            nc = int(state[key].shape[0])
    config = ckpt.get("config") if isinstance(ckpt.get("config"), dict) else {}
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    names = data.get("names")
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    names = [str(n) for n in names] if isinstance(names, (list, tuple)) else None
    return nc, names


def describe_model_config(cfg: Any) -> str | None:
    """``EfficientRep/RepBiFPANNeck/EffiDeHead depth 0.33 width 0.25`` from a model config
    (a checkpoint's ``config["model"]``), or None when it says nothing usable."""
    if not isinstance(cfg, dict):
        return None
    parts = [cfg[k].get("type") for k in ("backbone", "neck", "head") if isinstance(cfg.get(k), dict)]
    parts = [str(p) for p in parts if p]
    if not parts:
        return str(cfg["type"]) if cfg.get("type") else None
    backbone = cfg.get("backbone") if isinstance(cfg.get("backbone"), dict) else {}
    sizes = [
        f"{k.split('_')[0]} {backbone[k]}" for k in ("depth_multiple", "width_multiple") if k in backbone
    ]
    return " ".join(["/".join(parts), *sizes])


def describe_mismatch(
    model_state: dict[str, torch.Tensor], file_state: dict[str, Any], examples: int = 3
) -> str | None:
    """One line saying how ``file_state`` differs from ``model_state`` (None when it fits):
    the class count when the classifiers differ, then per kind (shape, missing, unexpected)
    the modules involved with their tensor counts and the first few names and shapes."""
    own, theirs = model_state, {k: v for k, v in file_state.items() if hasattr(v, "shape")}
    shape = [k for k in own if k in theirs and tuple(own[k].shape) != tuple(theirs[k].shape)]
    missing = [k for k in own if k not in theirs]
    extra = [k for k in theirs if k not in own]
    if not (shape or missing or extra):
        return None
    parts = []
    cls = next(
        (
            k
            for k in shape
            if re.search(r"cls_preds\.\d+\.(weight|bias)$", k) and own[k].shape[0] != theirs[k].shape[0]
        ),
        None,
    )
    if cls is not None:
        module = cls.rsplit(".", 2)[0]
        parts.append(f"{module}: {theirs[cls].shape[0]} vs {own[cls].shape[0]} classes (file vs model)")
    if shape:
        shown = "; ".join(f"{k} {list(theirs[k].shape)} vs {list(own[k].shape)}" for k in shape[:examples])
        parts.append(f"{len(shape)} tensor(s) differ in shape in {_by_module(shape)}: {shown}")
    if missing:
        parts.append(
            f"{len(missing)} model tensor(s) not in the file in {_by_module(missing)}, e.g. {missing[0]}"
        )
    if extra:
        parts.append(f"{len(extra)} file tensor(s) the model lacks in {_by_module(extra)}, e.g. {extra[0]}")
    return "; ".join(parts)


def _by_module(keys: list[str], shown: int = 4) -> str:
    """``backbone.stem (3), head.cls_preds (6), ...``: keys grouped by their first two names."""
    counts: dict[str, int] = {}
    for k in keys:
        module = ".".join(k.split(".")[:2])
        counts[module] = counts.get(module, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{m} ({n})" for m, n in top[:shown])
    return text + (f" and {len(top) - shown} more modules" if len(top) > shown else "")


def load_weights_reported(
    model: torch.nn.Module, path: str | Path, what: str, logger: Any, prefer_ema: bool = True
) -> tuple[int, int]:
    """Load ``path`` (a checkpoint or a bare state dict) into ``model`` shape-matched, log one
    line naming ``what``, and return ``(loaded, total)``.

    A full load is logged at INFO, a partial one as a warning naming what did not fit; a file
    of which nothing fits is an error (teachers and students with random weights are useless).
    """
    ckpt = load_checkpoint(path)
    state = model_state(ckpt, prefer_ema) if "model" in ckpt or "ema" in ckpt else ckpt
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items() if torch.is_tensor(v)}
    own = model.state_dict()
    mismatch = describe_mismatch(own, state)
    loaded, _ = load_matching(model, state)
    if not loaded:
        raise DetregError(f"{what} {path}: no tensor fits the model: {mismatch}")
    if mismatch is None:
        logger.info("%s %s: loaded all %d tensors", what, path, len(own))
    else:
        logger.warning(
            "%s %s: loaded %d of %d tensors; the rest keep their initialisation: %s",
            what,
            path,
            len(loaded),
            len(own),
            mismatch,
        )
    return len(loaded), len(own)


def load_model_state(model: torch.nn.Module, state: dict[str, Any], source: str | Path) -> None:
    """Load ``state`` into ``model`` exactly; one clear error (what differs, by module) if it
    does not fit, instead of PyTorch's list of every tensor."""
    problem = describe_mismatch(model.state_dict(), state)
    if problem is not None:
        raise DetregError(f"{source}: the weights do not fit the config's model: {problem}")
    model.load_state_dict(state)
