"""The runner: builds everything from the config, loops epochs and steps, fires events.

It holds no feature flags: EMA, evaluation, checkpoints, warmup, logging... are hooks.
Build order (and the events around it)::

    hooks -> before_run -> data -> model -> configure_model -> DDP -> optimizer, scheduler
    -> train step -> before_train -> (resume) -> epochs -> after_train; after_run (always)

What hooks may use is :class:`detreg.engine.hook.RunnerContract`. Per step the runner
puts the step's scalars (mean over ranks) into ``storage`` (an
:class:`~detreg.engine.storage.EpochStorage`, fresh each epoch) that every writer reads.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from detreg import __version__
from detreg.config import Config, dump, run_context
from detreg.engine import dist
from detreg.engine.checkpoint import clean_temp_files, load_checkpoint, load_model_state, save_checkpoint
from detreg.engine.hook import Hook, hook_priority, order_hooks, overridden_events
from detreg.engine.signals import StopRequest, stop_on_signals
from detreg.engine.step_record import StepRecord
from detreg.engine.storage import EpochStorage
from detreg.engine.workdir import WorkDirLock
from detreg.errors import DetregError
from detreg.events import ALL_EVENTS
from detreg.optim.param_groups import add_module_param_groups
from detreg.registry import DATASETS, HOOKS, MODELS, OPTIMIZERS, SCHEDULERS, STEPS

__all__ = ["Runner", "hook_priority", "next_run_dir", "overridden_events"]

#: In the work dir: which epoch end (a token also stored in checkpoints) last completed.
EPOCH_END_FILE = ".epoch_end.json"


def next_run_dir(root: str | Path = "runs/train", name: str = "exp") -> Path:
    """``root/exp``, or ``exp2``, ``exp3``... when taken (not created here)."""
    root = Path(root)
    path = root / name
    n = 2
    while path.exists():
        path = root / f"{name}{n}"
        n += 1
    return path


class Runner:
    """Thin hook-driven training loop (see the module docstring)."""

    def __init__(
        self, cfg: Config, work_dir: str | Path | None = None, resume: str | Path | None = None
    ) -> None:
        self.cfg = cfg.data
        self.config = cfg
        self.device = pick_device(self.cfg["train"].get("device", "auto"), dist.env_local_rank())
        self.rank, self.world_size, _ = dist.setup(self.device)
        try:
            self._init(work_dir, resume)
        except BaseException:
            dist.cleanup()
            raise

    def _init(self, work_dir: str | Path | None, resume: str | Path | None) -> None:
        """Everything after joining the process group (left again if this fails)."""
        # rank 0 picks the folder (runs/train/expN depends on what exists) and tells the others
        work_dir = work_dir or self.cfg.get("work_dir") or next_run_dir()
        self.work_dir = Path(dist.broadcast_object(str(work_dir)))
        self.resume_from = Path(resume) if resume else None
        self.max_epochs = int(self.cfg["train"]["epochs"])
        self.accumulate = int(self.cfg["train"].get("accumulate", 1))
        self.epoch = 0
        self.iter = 0
        self.step_in_epoch = 0
        self.epoch_complete = False
        self.start_epoch = 0
        self.batch: dict[str, Any] | None = None
        self.outputs: dict[str, Any] = {}
        self.metrics: dict[str, Any] = {}
        self.model: torch.nn.Module | None = None
        self._eval_model: torch.nn.Module | None = None
        self.storage = EpochStorage(0)
        self.step_record: StepRecord | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self._trainables: list[tuple[str, torch.nn.Module]] = []
        self.scheduler: Any = None
        self.train_loader: Any = None
        self.val_loader: Any = None
        self.context = run_context(self.cfg)
        self._lock: WorkDirLock | None = None
        self.stop = StopRequest()
        self._owed: list[str] | None = None  # after_epoch hooks not yet returned (epoch end)
        self._epoch_end_token = ""
        self._resume_owed: list[str] = []
        self.logger = _make_logger(self.rank)
        self.hooks: list[tuple[str, Hook]] = self._build_hooks()
        self._event_hooks = {
            e: [(n, h) for n, h in self.hooks if e in overridden_events(type(h))] for e in ALL_EVENTS
        }
        self.train_step = STEPS.build(self.cfg["train"]["step"], "train.step", self.context)

    # ------------------------------------------------------------------ properties
    @property
    def unwrapped_model(self) -> torch.nn.Module:
        """The model without a DDP (or DataParallel) wrapper."""
        m = self.model
        wrappers = (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)
        return m.module if isinstance(m, wrappers) else m

    @property
    def eval_model(self) -> torch.nn.Module:
        """What evaluation and ``best.pt`` use: the training model unless a hook set another.

        A hook that keeps a better model for evaluation (``EMAHook``: the averaged weights)
        assigns it here (``runner.eval_model = module``); assigning None restores the
        training model. The runner itself knows nothing about EMA.
        """
        return self._eval_model if self._eval_model is not None else self.unwrapped_model

    @eval_model.setter
    def eval_model(self, module: torch.nn.Module | None) -> None:
        self._eval_model = module

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that logs, evaluates and saves)."""
        return self.rank == 0

    # ------------------------------------------------------------------ events
    def call(self, event: str, *args: Any) -> None:
        """Fire ``event`` on every hook that implements it, in priority order.

        An exception is re-raised with a note naming the hook and the event.
        """
        for name, hook in self._event_hooks[event]:
            try:
                getattr(hook, event)(self, *args)
            except BaseException as exc:
                exc.add_note(f"in hook '{name}' ({type(hook).__name__}) during {event}")
                raise

    def _call_safely(self, event: str, *args: Any) -> None:
        """Fire an event on the failure path: log hook errors, do not mask the first one."""
        for name, hook in self._event_hooks[event]:
            try:
                getattr(hook, event)(self, *args)
            except Exception as exc:  # noqa: BLE001 - already failing; keep the original error
                self.logger.error("hook '%s' failed during %s: %s: %s", name, event, type(exc).__name__, exc)

    def _build_hooks(self) -> list[tuple[str, Hook]]:
        built = []
        for name, hcfg in (self.cfg.get("hooks") or {}).items():
            if hcfg is None:
                continue
            args = {k: v for k, v in hcfg.items() if k != "priority"}
            hook = HOOKS.build(args, f"hooks.{name}", self.context)
            if not isinstance(hook, Hook):
                raise DetregError(f"hooks.{name}: {hcfg['type']} is not a detreg.engine.Hook subclass")
            if hcfg.get("priority") is not None:
                hook.priority = int(hcfg["priority"])
            built.append((name, hook))
        return order_hooks(built, lambda h: h.priority)

    # ------------------------------------------------------------------ building
    def _build_data(self) -> None:
        from detreg.data.loader import build_dataloader

        data = self.cfg.get("data") or {}
        loader_cfg = dict(data.get("loader") or {})
        train = self.cfg["train"]
        bs = int(train["batch_size"]) // self.world_size
        if data.get("train") is None:
            raise DetregError("data.train: missing; set a dataset or pass --data my_data.yaml")
        train_set = DATASETS.build(data["train"], "data.train", self.context)
        self.context.setdefault("num_classes", train_set.num_classes)
        self.context.setdefault("class_names", list(train_set.class_names))
        seed = int(train.get("seed", 0))
        self.train_loader = build_dataloader(
            train_set, batch_size=bs, workers=int(train["workers"]), shuffle=True, seed=seed, **loader_cfg
        )
        self.context["iters_per_epoch"] = len(self.train_loader)
        if data.get("val") is not None and self.is_main:  # evaluation runs on rank 0 alone
            val_set = DATASETS.build(data["val"], "data.val", self.context)
            val_bs = int(data.get("val_batch_size") or 2 * bs)
            self.val_loader = build_dataloader(
                val_set,
                batch_size=val_bs,
                workers=int(train["workers"]),
                shuffle=False,
                seed=seed,
                **{**loader_cfg, "distributed": False},
            )

    def _build_model(self) -> None:
        self.model = MODELS.build(self.cfg["model"], "model", self.context).to(self.device)

    def add_trainable(self, name: str, module: torch.nn.Module) -> None:
        """Have the optimizer train ``module`` too (call it in ``configure_model``).

        For modules a hook trains beside the model and keeps out of it (distillation
        connectors): their parameters join the optimizer as extra groups that copy the
        settings of the model's groups of the same kind (so warmup and the lr schedule
        drive them alike) and are in its state (exact resume). They are not in the model's
        state dict: the hook saves them itself (``state_dict``), and under DDP it averages
        their gradients itself (they are outside the wrapped model).
        """
        if self.optimizer is not None:
            raise RuntimeError(f"add_trainable('{name}'): the optimizer is built; call it in configure_model")
        self._trainables.append((name, module))

    def _build_optimization(self) -> None:
        if self.cfg.get("optimizer") is None:
            raise DetregError("optimizer: missing (e.g. optimizer: {type: SGD, lr: 0.01})")
        self.optimizer = OPTIMIZERS.build(
            self.cfg["optimizer"], "optimizer", self.context, model=self.unwrapped_model
        )
        for name, module in self._trainables:
            add_module_param_groups(self.optimizer, module, name)
        if self.cfg.get("scheduler") is not None:
            self.scheduler = SCHEDULERS.build(
                self.cfg["scheduler"], "scheduler", self.context, optimizer=self.optimizer
            )

    def build(self) -> None:
        """Build data, model (+ ``configure_model``), DDP, optimizer, scheduler, train step."""
        self._build_data()
        self._build_model()
        self.call("configure_model")
        self.model = dist.wrap_model(self.model, self.device, self.cfg["train"])
        self._build_optimization()
        self.train_step.setup(self)

    # ------------------------------------------------------------------ running
    def train(self) -> None:
        """Run the whole training; ``after_run`` fires whatever happens.

        SIGTERM/SIGINT stop the run cleanly (one process; see :mod:`detreg.engine.signals`).
        """
        guard = stop_on_signals(self.stop, self.logger) if self.world_size == 1 else contextlib.nullcontext()
        with guard:
            self._train()

    def _train(self) -> None:
        try:
            _seed_everything(
                int(self.cfg["train"].get("seed", 0)) + self.rank, self.cfg["train"].get("deterministic")
            )
            self._claim_work_dir()
            self._add_file_log()
            self.call("before_run")
            self.build()
            self.call("before_train")
            if self.resume_from is not None:
                self.resume(self.resume_from)
            if self._resume_owed:
                self._finish_interrupted_epoch()
            for epoch in range(self.start_epoch, self.max_epochs):
                self.epoch = epoch
                self._run_epoch()
            self.call("after_train")
        except BaseException as exc:
            self._call_safely("on_exception", exc)
            raise
        finally:
            try:
                self._call_safely("after_run")
            finally:  # also after a SIGTERM (SystemExit) inside an after_run hook
                if self._lock is not None:
                    self._lock.release()
                    self._lock = None
                dist.cleanup()

    def _run_epoch(self) -> None:
        self.epoch_complete = False
        if hasattr(self.train_loader, "set_epoch"):
            self.train_loader.set_epoch(self.epoch)
        self.model.train()
        self.train_step.start_epoch(self)
        try:
            steps = len(self.train_loader)
        except TypeError:
            steps = None
        self.storage = EpochStorage(self.epoch, self.iter, steps)
        self.call("before_epoch")
        for i, batch in enumerate(self.train_loader):
            self.step_in_epoch = i
            self.batch = batch
            self.storage.begin_step()
            self.stop.in_step = True  # a stop signal now lets the step finish
            self.call("before_step")
            self.storage.put_scalars(self.train_step.step(self, batch))
            if self.world_size > 1:  # writers see the mean over ranks (hook scalars included)
                self.storage.latest = dist.reduce_dict(self.storage.latest)
            self.outputs = self.storage.latest
            self.storage.end_step(
                self.iter,
                [float(g["lr"]) for g in self.optimizer.param_groups],
                [str(g.get("name", "")) for g in self.optimizer.param_groups],
                _batch_size(batch),
            )
            self.call("after_step")
            self.iter += 1
            self.stop.in_step = False
            self.stop.check()
        self.batch = None
        self.epoch_complete = True
        self._end_epoch([name for name, _ in self._event_hooks["after_epoch"]])

    def _end_epoch(self, owed: list[str]) -> None:
        """Fire ``after_epoch`` on the hooks named in ``owed``, in order.

        A checkpoint written meanwhile records (``epoch_end``) which of them had not
        returned yet; once all have, :data:`EPOCH_END_FILE` in the work dir says so. A
        resume from a checkpoint whose epoch end was cut short (a crash or signal during
        evaluation) fires those hooks again: see :meth:`resume`.
        """
        self._owed = list(owed)
        self._epoch_end_token = uuid.uuid4().hex
        for name, hook in self._event_hooks["after_epoch"]:
            if name not in owed:
                continue
            try:
                hook.after_epoch(self)
            except BaseException as exc:
                exc.add_note(f"in hook '{name}' ({type(hook).__name__}) during after_epoch")
                raise
            self._owed.remove(name)
        self._owed = None
        if self.world_size > 1:  # only rank 0 evaluates: every rank sees its metrics
            self.metrics = dist.broadcast_object(self.metrics)
        self._record_epoch_end()

    def _record_epoch_end(self) -> None:
        """Note in the work dir that the epoch end of token ``_epoch_end_token`` completed."""
        if not self.is_main:
            return
        path = self.work_dir / EPOCH_END_FILE
        tmp = path.with_name(path.name + ".writing")
        try:
            tmp.write_text(json.dumps({"epoch": self.epoch + 1, "token": self._epoch_end_token}))
            os.replace(tmp, path)
        except OSError as exc:  # a resume will then redo this epoch's end: safe, only slower
            self.logger.warning("could not write %s: %s", path, exc.strerror or exc)

    def _finish_interrupted_epoch(self) -> None:
        """Redo what the checkpoint's epoch still owed (its cut-short ``after_epoch`` hooks)."""
        self.epoch = self.start_epoch - 1
        self.epoch_complete = True
        self.storage = EpochStorage(self.epoch, self.iter)  # its steps' scalars died with the crash
        self.logger.info(
            "resume: epoch %d ended before its end-of-epoch work was done; finishing it (%s)",
            self.start_epoch,
            ", ".join(self._resume_owed),
        )
        owed, self._resume_owed = self._resume_owed, []
        self._end_epoch(owed)

    def validate(self, evaluate: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``evaluate`` between ``before_val`` and ``after_val``; keep its metrics.

        The metrics and the time the evaluation took go to ``storage`` for the writers.
        """
        self.call("before_val")
        start = time.time()
        self.metrics = dict(evaluate())
        self.storage.put_val(self.metrics, time.time() - start)
        self.call("after_val")
        return self.metrics

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_state(self) -> dict[str, Any]:
        """The plain-state checkpoint dict of the current moment (see ``engine.checkpoint``).

        Hooks add their own top-level entries in ``on_save_checkpoint`` (``EMAHook``:
        ``ema``); the GradScaler state is the train step's (``train_step["scaler"]``).
        """
        hooks = {name: hook.state_dict() for name, hook in self.hooks if hasattr(hook, "state_dict")}
        ckpt = {
            "model": self.unwrapped_model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "scheduler": self.scheduler.state_dict() if hasattr(self.scheduler, "state_dict") else None,
            "train_step": self.train_step.state_dict() if hasattr(self.train_step, "state_dict") else None,
            "hooks": hooks,
            "epoch": self.epoch + (1 if self.epoch_complete else 0),
            "iter": self.iter,
            "config": self.cfg,
            "versions": {"detreg": __version__, "torch": str(torch.__version__)},
            "rng": _rng_state(),
            # written during the end-of-epoch events: the hooks whose after_epoch had not returned
            "epoch_end": None
            if self._owed is None
            else {"owed": list(self._owed), "token": self._epoch_end_token},
        }
        self.call("on_save_checkpoint", ckpt)
        return ckpt

    def save_checkpoint(self, path: str | Path, state: dict[str, Any] | None = None) -> Path:
        """Write a checkpoint atomically (main process only; others return at once)."""
        path = Path(path)
        if not self.is_main:
            return path
        return save_checkpoint(state if state is not None else self.checkpoint_state(), path)

    def resume(self, path: str | Path) -> None:
        """Restore everything a checkpoint holds so training continues exactly."""
        ckpt = load_checkpoint(path, map_location=self.device)
        load_model_state(self.unwrapped_model, ckpt["model"], path)
        if self.optimizer is not None and ckpt.get("optimizer"):
            self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt.get("scheduler"):
            self.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("train_step") and hasattr(self.train_step, "load_state_dict"):
            self.train_step.load_state_dict(ckpt["train_step"])
        states = ckpt.get("hooks") or {}
        for name, hook in self.hooks:
            if name in states and hasattr(hook, "load_state_dict"):
                hook.load_state_dict(states[name])
            elif hasattr(hook, "load_state_dict"):
                self.logger.warning("resume: checkpoint has no state for hook '%s'; it starts fresh", name)
        unknown = sorted(set(states) - {n for n, _ in self.hooks})
        if unknown:
            self.logger.warning(
                "resume: checkpoint holds state of hooks not in this config: %s", ", ".join(unknown)
            )
        self.start_epoch = int(ckpt["epoch"])
        self.epoch = self.start_epoch
        self._resume_owed = dist.broadcast_object(self._owed_by(ckpt, Path(path).parent))
        self.iter = int(ckpt["iter"])
        if ckpt.get("rng"):
            _set_rng_state(ckpt["rng"])
        self.call("on_load_checkpoint", ckpt)
        self.logger.info("resumed from %s at epoch %d (iter %d)", path, self.start_epoch, self.iter)

    def _owed_by(self, ckpt: dict[str, Any], folder: Path) -> list[str]:
        """The ``after_epoch`` hooks ``ckpt``'s epoch end still owes (none when completed)."""
        end = ckpt.get("epoch_end")
        if not isinstance(end, dict) or not end.get("owed"):
            return []
        try:
            done = json.loads((folder / EPOCH_END_FILE).read_text()).get("token")
        except (OSError, ValueError, AttributeError):
            done = None
        if done == end.get("token"):
            return []
        known = {name for name, _ in self._event_hooks["after_epoch"]}
        return [name for name in end["owed"] if name in known]

    # ------------------------------------------------------------------ misc
    def _claim_work_dir(self) -> None:
        """Rank 0: lock the work dir for the run, clean temp files, write ``config.yaml``."""
        if not self.is_main:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            return
        self._lock = WorkDirLock(self.work_dir).acquire(self.logger)
        for path in clean_temp_files(self.work_dir):
            self.logger.warning("removed %s, left by an interrupted checkpoint save", path)
        try:  # written under the lock: never over the config of a run still going
            dump(self.config, self.work_dir / "config.yaml")
        except OSError as exc:
            why = exc.strerror or exc
            raise DetregError(f"could not write {self.work_dir / 'config.yaml'}: {why}") from None

    def _add_file_log(self) -> None:
        if not self.is_main:
            return
        path = (self.work_dir / "train.log").resolve()
        if any(getattr(h, "baseFilename", None) == str(path) for h in self.logger.handlers):
            return
        for h in [h for h in self.logger.handlers if isinstance(h, logging.FileHandler)]:
            self.logger.removeHandler(h)
            h.close()
        fh = logging.FileHandler(path)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.logger.addHandler(fh)


def pick_device(spec: Any, local_rank: int) -> torch.device:
    """The device of ``train.device``; under torchrun each process takes GPU ``LOCAL_RANK``."""
    spec = str(spec).strip().lower() if spec is not None else "auto"
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.isdigit():
        spec = f"cuda:{spec}"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DetregError(
                f"train.device: '{spec}' asked for, but no CUDA GPU is available (use train.device=cpu)"
            )
        if local_rank >= 0:
            if spec not in ("cuda", f"cuda:{local_rank}"):
                logging.getLogger("detreg").warning(
                    "train.device=%s ignored under torchrun: process %d uses cuda:%d",
                    spec,
                    local_rank,
                    local_rank,
                )
            spec = f"cuda:{local_rank}"
    try:
        return torch.device(spec)
    except RuntimeError as exc:
        raise DetregError(f"train.device: {exc}") from None


def _batch_size(batch: Any) -> int:
    img = batch.get("img") if isinstance(batch, dict) else None
    return int(img.shape[0]) if img is not None and hasattr(img, "shape") else 0


class _StdoutHandler(logging.StreamHandler):
    """Training output (below WARNING) to stdout, looked up at each write (pytest swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)
        self.addFilter(lambda record: record.levelno < logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout  # not setStream: it flushes the old stream, maybe closed
        super().emit(record)


class _StderrHandler(logging.StreamHandler):
    """Warnings and errors to stderr, looked up at each write."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setLevel(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _make_logger(rank: int) -> logging.Logger:
    """The ``detreg`` logger: progress and summaries on stdout, warnings/errors on stderr."""
    logger = logging.getLogger("detreg")
    for h in [h for h in logger.handlers if getattr(h, "_detreg", False)]:
        if not isinstance(h, (_StdoutHandler, _StderrHandler)):
            logger.removeHandler(h)
    if not any(getattr(h, "_detreg", False) for h in logger.handlers):
        for h in (_StdoutHandler(), _StderrHandler()):
            h._detreg = True  # type: ignore[attr-defined]
            logger.addHandler(h)
    fmt = "%(message)s" if rank == 0 else f"[rank {rank}] %(message)s"
    for h in logger.handlers:
        if getattr(h, "_detreg", False):
            h.setFormatter(logging.Formatter(fmt))
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    logger.propagate = False
    return logger


def _seed_everything(seed: int, deterministic: Any) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def _rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
        "python": list(random.getstate()[1]) + [random.getstate()[0]],
        "time": time.time(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    py = list(state["python"])
    random.setstate((py[-1], tuple(py[:-1]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
