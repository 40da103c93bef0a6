"""Turn command-line inputs (config, overrides, ``--data``) into a validated config.

Shared by ``detreg-train``, ``detreg check``, ``detreg hooks``, ``detreg-eval``... so every
command reads configs the same way. Nothing heavy happens here: no dataset is opened,
no model is built (the built-in synthetic data is generated once if missing, a few
seconds, so the demo runs from a fresh clone).
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from pathlib import Path
from typing import Any

from detreg.builtin_configs import builtin_config_dir, find_config
from detreg.config import Config, apply_override, check, load_config, merge
from detreg.errors import DetregError

CONFIG_DIR = builtin_config_dir()
DEFAULT_CONFIG = CONFIG_DIR / "demo.yaml"


def prepare_config(
    path: str | Path | None,
    overrides: list[str] = (),
    data: str | Path | None = None,
    validate: bool = True,
    need_data: bool = True,
    generate: bool = True,
) -> Config:
    """Load, apply overrides and the data yaml, import ``imports:``, validate in full.

    Raises one :class:`~detreg.errors.ConfigError` listing every problem. ``need_data=False``
    skips the datasets' checks (export and inference need none). ``generate=False`` (``--check``)
    writes nothing: a ``data.synth`` set not generated yet is checked as it would be.
    """
    cfg = load_config(find_config(path), list(overrides))
    if data is not None:
        apply_override(cfg.data, f"data.source={Path(data)}", cfg.sources)
    resolve_data_source(cfg, generate)
    if validate:
        check(cfg, need_data)
    return cfg


def resolve_data_source(cfg: Config, generate: bool = True) -> None:
    """Merge the dataset described by ``data.source`` (a data yaml) or ``data.synth``.

    ``data.synth: {root, train, val, size, seed}`` generates the built-in synthetic set
    into ``root`` once, then uses its data yaml (with ``generate=False``, a set not there yet
    is described as it will be, without writing it).
    """
    data: dict[str, Any] = cfg.data.get("data") or {}
    if not isinstance(data, dict):
        return
    source = data.get("source")
    synth = data.get("synth")
    from_synth = source is None and synth is not None
    if from_synth:
        source = _ensure_synth(synth, cfg, generate)
    if source is None:
        return
    from detreg.data.data_yaml import data_section_from_yaml

    src = Path(str(source))
    if not src.is_absolute() and not src.exists() and cfg.path is not None:
        src = cfg.path.parent / src
    if from_synth and not generate and not src.is_file():
        fragment = _planned_synth_section(src.parent)
    else:
        fragment = data_section_from_yaml(src)
    merged = merge(data, fragment)
    merged.pop("source", None)
    merged.pop("synth", None)
    cfg.data["data"] = merged
    for key in fragment:
        cfg.sources.setdefault(f"data.{key}", str(src))


def _planned_synth_section(root: Path) -> dict[str, Any]:
    """The ``data:`` fragment a synthetic set generated into ``root`` will give (nothing written)."""
    from detreg.data.synth import SHAPES

    names = list(SHAPES)
    section: dict[str, Any] = {"nc": len(names), "names": names}
    for split in ("train", "val"):
        section[split] = {
            "type": "YOLODataset",
            "img_path": str(root / "images" / split),
            "class_names": names,
        }
    return section


def _ensure_synth(spec: Any, cfg: Config, generate: bool = True) -> Path:
    import json

    from detreg.data.synth import make_synth_dataset

    where = cfg.where("data.synth")
    if not isinstance(spec, dict):
        raise DetregError(f"{where}: data.synth must be a mapping (root, train, val, size, seed)")
    allowed = {"root", "train", "val", "size", "seed"}
    bad = sorted(set(spec) - allowed)
    if bad:
        raise DetregError(f"{where}: data.synth: unknown keys {bad}; allowed: {sorted(allowed)}")
    params = {
        "train": int(spec.get("train", 256)),
        "val": int(spec.get("val", 64)),
        "size": int(spec.get("size", 320)),
        "seed": int(spec.get("seed", 0)),
    }
    root = Path(spec.get("root", "runs/data/synth"))
    marker = root / "synth.json"
    if os.environ.get("LOCAL_RANK", "0") != "0":  # torchrun: local rank 0 generates, the rest wait
        _wait_for(marker, params, where)
        return root / "data.yaml"
    made = json.loads(marker.read_text()) if marker.is_file() else None
    if not generate and (made != params or not (root / "data.yaml").is_file()):
        return root / "data.yaml"  # not there: described by _planned_synth_section
    if made != params or not (root / "data.yaml").is_file():
        make_synth_dataset(
            root, n_train=params["train"], n_val=params["val"], size=params["size"], seed=params["seed"]
        )
        marker.write_text(json.dumps(params))
    return root / "data.yaml"


def _wait_for(marker: Path, params: dict[str, int], where: str, timeout: float = 600.0) -> None:
    """Wait until another process has written the synthetic set described by ``params``."""
    import json
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads(marker.read_text()) == params:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    raise DetregError(f"{where}: data.synth: gave up waiting for local rank 0 to write {marker.parent}")


# ---------------------------------------------------------------------- work dirs
RUNS_ROOT = Path("runs/train")


def newest_checkpoint(root: str | Path = RUNS_ROOT) -> Path:
    """The most recently written ``last.pt`` under ``root`` (what a bare ``--resume`` continues)."""
    root = Path(root)
    found = sorted(root.glob("*/last.pt"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    if not found:
        raise DetregError(f"--resume: no run to resume: no {root}/*/last.pt (give --resume PATH/last.pt)")
    return found[-1]


def find_resume(resume: str, work_dir: str | Path | None) -> Path:
    """The checkpoint ``--resume`` means: a path as given, or (bare ``--resume``) the
    ``last.pt`` of ``work_dir`` when one is set, else the newest run's (:func:`newest_checkpoint`).
    """
    if resume != "auto":
        return Path(resume)
    if not work_dir:
        return newest_checkpoint()
    path = Path(work_dir) / "last.pt"
    if not path.is_file():
        raise DetregError(f"--resume: no checkpoint at {path}")
    return path


def select_work_dir(
    cfg: Config, work_dir: str | Path | None, resume: str | Path | None, exist_ok: bool = False
) -> Path | None:
    """Where a training run writes, checked before anything is built.

    A resume continues in the checkpoint's own folder (unless ``work_dir`` is given). A new
    run uses ``work_dir``, the config's ``work_dir``, or ``None`` (the runner then picks the
    next free ``runs/train/expN``). A folder locked by a live run is refused, naming it; a
    folder that already holds a run (``last.pt``, ``best.pt``, ``metrics.jsonl``) is refused
    for a new run unless ``exist_ok``: then a warning, and its ``metrics.jsonl`` and
    ``train.log`` are kept as ``metrics.prev.jsonl`` and ``train.prev.log`` so the new run's
    records start afresh. Only rank 0 checks (under torchrun the others follow it).
    """
    from detreg.engine.workdir import existing_run_files, lock_holder

    if resume is not None:
        chosen: Path | None = Path(work_dir) if work_dir else Path(resume).parent
    else:
        given = work_dir or cfg.data.get("work_dir")
        chosen = Path(given) if given else None
    if chosen is None or os.environ.get("RANK", "0") != "0":
        return chosen
    holder = lock_holder(chosen)
    if holder:
        raise DetregError(
            f"work dir {chosen} is in use by another detreg run ({holder}); "
            "wait for it to end or choose another --work-dir"
        )
    found = existing_run_files(chosen) if resume is None else []
    if found and not exist_ok:
        raise DetregError(
            f"work dir {chosen} already holds a run ({', '.join(found)}); continue it with "
            f"`{resume_command(chosen)}`, choose another --work-dir, or pass "
            "--exist-ok to start a new run there (its checkpoints will be replaced)"
        )
    if found:
        moved = []
        for name, keep in (("metrics.jsonl", "metrics.prev.jsonl"), ("train.log", "train.prev.log")):
            if (chosen / name).is_file():
                os.replace(chosen / name, chosen / keep)
                moved.append(f"{name} -> {keep}")
        logging.getLogger("detreg").warning(
            "work dir %s already holds a run (%s): --exist-ok, starting a new run there; its "
            "checkpoints will be replaced%s",
            chosen,
            ", ".join(found),
            f"; kept {', '.join(moved)}" if moved else "",
        )
    return chosen


#: Write failures that are the disk's, not detreg's: reported in one line, not a traceback.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EIO})


def run_training(cfg: Config, work_dir: str | Path | None, resume: str | Path | None) -> int:
    """Train; return the exit code. A run stopped by a signal says where its work is and
    how to resume it, and returns 128 + the signal number (130 for Ctrl-C). A file that
    could not be written (disk full, read-only) is one :class:`DetregError` line.
    """
    from detreg.engine.runner import Runner
    from detreg.engine.signals import TrainingInterrupted

    runner = Runner(cfg, work_dir=work_dir, resume=resume)
    try:
        runner.train()
    except TrainingInterrupted as exc:
        if runner.is_main:
            print(
                interrupted_message(exc.name, runner.work_dir, runner.epoch, runner.max_epochs),
                file=sys.stderr,
            )
        return exc.exit_code
    except OSError as exc:
        if exc.errno not in DISK_ERRNOS:
            raise
        what = exc.filename or f"to {runner.work_dir}"
        last = Path(runner.work_dir) / "last.pt"
        kept = f"{last} is intact" if last.is_file() else "no checkpoint was written"
        raise DetregError(f"could not write {what}: {exc.strerror or exc}; {kept}") from exc
    return 0


def resume_command(work_dir: str | Path) -> str:
    """The command that resumes the run in ``work_dir``: its own ``config.yaml`` (a file of
    the user's, so code it names may be imported) and ``last.pt``.
    """
    work_dir = Path(work_dir)
    config = work_dir / "config.yaml"
    cfg = f"{config} " if config.is_file() else ""
    return f"detreg-train {cfg}--resume {work_dir / 'last.pt'}"


def interrupted_message(signal_name: str, work_dir: Path, epoch: int, max_epochs: int) -> str:
    """What a run stopped by ``signal_name`` tells the user: its folder, checkpoint, resume command."""
    from detreg.engine.checkpoint import load_checkpoint

    last = Path(work_dir) / "last.pt"
    head = f"detreg: stopped by {signal_name} in epoch {epoch + 1}/{max_epochs}; work dir {work_dir}"
    if not last.is_file():
        return f"{head}; no checkpoint was written yet (nothing to resume)"
    try:
        done = int(load_checkpoint(last).get("epoch", 0))
    except DetregError:
        done = None
    state = f"last checkpoint {last}" + (f" (after epoch {done})" if done is not None else "")
    return f"{head}; {state} is intact; resume with: {resume_command(work_dir)}"
