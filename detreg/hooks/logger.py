"""``LoggerHook``: progress bar / log lines, ``metrics.jsonl``, TensorBoard and plots."""

from __future__ import annotations

import datetime
import json
import math
import numbers
import sys
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from detreg.engine.hook import Hook
from detreg.registry import HOOKS

if TYPE_CHECKING:
    from detreg.engine.runner import Runner

METRICS_FILE = "metrics.jsonl"
_OUTPUTS = (
    "metrics.jsonl",
    "results.png",
    "train_batch.jpg",
    "val_predictions.jpg",
    "tb",
    "plots",
    "train.log",
    "last.pt",
    "best.pt",
)


def as_float(value: Any) -> float | None:
    """``value`` as a float if it is a real number (or a one-element tensor/array), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (torch.Tensor, np.ndarray)) and _numel(value) == 1:
        try:
            return float(value.item())
        except (TypeError, ValueError, RuntimeError):
            return None
    return None


def _numel(value: torch.Tensor | np.ndarray) -> int:
    return value.numel() if isinstance(value, torch.Tensor) else int(value.size)


def _numeric(values: dict[str, Any]) -> dict[str, float]:
    """The entries of ``values`` that are numbers, as floats."""
    out = {}
    for key, value in values.items():
        v = as_float(value)
        if v is not None:
            out[key] = v
    return out


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The epoch records of a ``metrics.jsonl``, as the run's history.

    The file is appended to across resumes; a record whose epoch is not after the ones
    before it (a resume from an earlier checkpoint, or a fresh run in the same folder)
    replaces them from that epoch on. Unreadable lines are skipped.
    """
    path = Path(path)
    if not path.is_file():
        return []
    records: list[dict[str, Any]] = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("epoch"), int):
            continue
        while records and records[-1]["epoch"] >= rec["epoch"]:
            records.pop()
        records.append(rec)
    return records


def fmt_time(seconds: float) -> str:
    """``H:MM:SS`` for a duration in seconds."""
    if not math.isfinite(seconds):
        return "?"
    return str(datetime.timedelta(seconds=int(max(seconds, 0))))


class _Means:
    """Running means of the numeric entries of per-step loss dicts (NaN/inf skipped)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.skipped = 0
        self.has_skipped = False

    def update(self, outputs: dict[str, Any]) -> None:
        for key, value in (outputs or {}).items():
            v = as_float(value)
            if v is None:
                continue
            if key == "skipped":
                self.skipped += int(v)
                self.has_skipped = True
                continue
            if not math.isfinite(v):
                continue
            self.sums[key] = self.sums.get(key, 0.0) + v
            self.counts[key] = self.counts.get(key, 0) + 1

    def means(self) -> dict[str, float]:
        return {k: self.sums[k] / self.counts[k] for k in self.sums}


def _fmt_value(v: float) -> str:
    return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"


@HOOKS.register()
class LoggerHook(Hook):
    """What a person watches and keeps of a run (main process only).

    - A tqdm bar per epoch (epoch ``e/E``, running mean of each loss, lr of group 0,
      images/s, ETA of the whole run) when stderr is a TTY and ``progress`` is not false;
      otherwise a Paddle-LogPrinter-style line every ``interval`` steps through
      ``runner.logger`` (epoch, step/N, lr, losses, eta, batch_cost, ips, max_mem). One
      summary line per epoch either way.
    - ``work_dir/metrics.jsonl``: one JSON object per epoch, written in ``after_epoch``
      (after evaluation, which runs at a lower priority): ``epoch`` (completed epochs),
      ``iter``, the mean of each loss, ``skipped`` (if the step reports it), ``lr`` (per
      param group, as used by the epoch's last step), ``time`` (s, the epoch including
      evaluation), and when this epoch evaluated ``val_time`` and every numeric metric
      (``mAP50_95``, ``mAP50``, ...; a metric named like one of the other keys is written as
      ``val/<name>``). Always appended; :func:`read_metrics` reads it back resume-aware.
    - TensorBoard in ``work_dir/tb`` (``tensorboard: true``), global step = training
      iterations done: ``train/<loss>`` (epoch means), ``train_step/<loss>`` (mean of the
      last ``tb_interval`` steps), ``lr/pg<k>``, ``val/<metric>``, images ``train/batch``
      (first batch with its labels, also saved as ``work_dir/train_batch.jpg``) and
      ``val/predictions`` (``runner.eval_model.predict`` on ``val_images`` val images,
      boxes with score >= ``conf_thres``, also ``work_dir/val_predictions.jpg``). A resumed
      run purges the events logged after its checkpoint.
    - ``work_dir/results.png``: every curve of ``metrics.jsonl`` vs epoch, at
      ``after_train`` (or ``after_run`` when training failed).

    The hook keeps no state that matters across a resume (everything is derived from
    ``runner`` or the files), so it has no ``state_dict``. Picture and TensorBoard failures
    are logged as warnings and never stop training.
    """

    priority = 90

    def __init__(
        self,
        interval: int = 20,
        progress: bool | None = None,
        tensorboard: bool = True,
        tb_interval: int = 50,
        plot_batch: bool = True,
        val_images: int = 4,
        conf_thres: float = 0.3,
        plots: bool = True,
    ) -> None:
        self.interval = max(1, int(interval))
        self.progress = progress
        self.tensorboard = tensorboard
        self.tb_interval = int(tb_interval)
        self.plot_batch = plot_batch
        self.val_images = int(val_images)
        self.conf_thres = float(conf_thres)
        self.plots = plots
        self._writer: Any = None
        self._bar: Any = None
        self._use_bar: bool | None = None
        self._means = _Means()
        self._window: deque[dict[str, float]] = deque(maxlen=max(1, self.tb_interval))
        self._step_times: deque[float] = deque(maxlen=self.interval)
        self._steps_time = 0.0  # seconds of steps timed this session
        self._steps_timed = 0
        self._epoch_step_time = 0.0
        self._overheads: list[float] = []  # per epoch: wall time not spent in steps (eval, saving)
        self._epoch_start = 0.0
        self._last_t = 0.0
        self._lrs: list[float] = []
        self._val_epoch: int | None = None
        self._val_metrics: dict[str, float] = {}
        self._val_start: float | None = None
        self._val_time: float | None = None
        self._val_batch: torch.Tensor | None = None
        self._batch_drawn = False
        self._session_start: float | None = None
        self._finished = False
        self._disabled: set[str] = set()

    # ------------------------------------------------------------------ events
    def before_train(self, runner: Runner) -> None:
        """Start the session clock."""
        self._session_start = time.time()

    def before_epoch(self, runner: Runner) -> None:
        """Reset the epoch's means and timers; open the progress bar."""
        if not runner.is_main:
            return
        if self._session_start is None:
            self._session_start = time.time()
        self._tb(runner)  # created here, after a resume set runner.iter (see _tb)
        self._means = _Means()
        self._window.clear()
        self._step_times.clear()
        self._epoch_step_time = 0.0
        self._epoch_start = self._last_t = time.time()
        if self._bar_wanted():
            from tqdm import tqdm

            self._close_bar()
            self._bar = tqdm(
                total=self._steps_per_epoch(runner),
                desc=f"{runner.epoch + 1}/{runner.max_epochs}",
                file=sys.stderr,
                dynamic_ncols=True,
                leave=True,
            )

    def after_step(self, runner: Runner) -> None:
        """Update means, timers and the bar; log a line every ``interval`` steps."""
        if not runner.is_main:
            return
        now = time.time()
        dt, self._last_t = now - self._last_t, now
        self._step_times.append(dt)
        self._steps_time += dt
        self._steps_timed += 1
        self._epoch_step_time += dt
        outputs = runner.outputs or {}
        self._means.update(outputs)
        self._window.append(_numeric(outputs))
        self._lrs = [float(g["lr"]) for g in runner.optimizer.param_groups] if runner.optimizer else []
        if not self._batch_drawn:
            self._batch_drawn = True
            self._draw_train_batch(runner)
        step, n = runner.step_in_epoch + 1, self._steps_per_epoch(runner)
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(runner), refresh=False)
            self._bar.update(1)
            if n is not None and step >= n:
                self._close_bar()
        elif step % self.interval == 0 or (n is not None and step >= n):
            runner.logger.info(self._log_line(runner))
        if self.tb_interval > 0 and (runner.iter + 1) % self.tb_interval == 0:
            self._tb_step_scalars(runner)

    def before_val(self, runner: Runner) -> None:
        """Time the validation."""
        self._val_start = time.time()

    def after_val(self, runner: Runner) -> None:
        """Remember fresh metrics for this epoch's record; TensorBoard scalars and pictures."""
        if not runner.is_main:
            return
        self._val_time = time.time() - self._val_start if self._val_start is not None else None
        self._val_epoch = runner.epoch
        self._val_metrics = _numeric(runner.metrics or {})
        writer = self._tb(runner)
        if writer is not None:

            def scalars() -> None:
                for key, value in self._val_metrics.items():
                    if math.isfinite(value):
                        writer.add_scalar(f"val/{key}", value, runner.iter)

            self._guard(runner, "tensorboard", scalars)
        if self.val_images > 0:
            self._guard(runner, "val_predictions", lambda: self._draw_val_predictions(runner))

    def after_epoch(self, runner: Runner) -> None:
        """Write the epoch's ``metrics.jsonl`` record, its summary line and epoch scalars."""
        if not runner.is_main:
            return
        self._close_bar()
        now = time.time()
        epoch_time = now - self._epoch_start if self._epoch_start else 0.0
        self._overheads.append(max(epoch_time - self._epoch_step_time, 0.0))
        means = self._means.means()
        record: dict[str, Any] = {"epoch": runner.epoch + 1, "iter": int(runner.iter)}
        record.update({k: v for k, v in means.items()})
        if self._means.has_skipped:
            record["skipped"] = self._means.skipped
        lrs = self._lrs or [float(g["lr"]) for g in runner.optimizer.param_groups]
        record["lr"] = lrs
        record["time"] = round(epoch_time, 3)
        fresh = self._val_epoch == runner.epoch
        if fresh:
            if self._val_time is not None:
                record["val_time"] = round(self._val_time, 3)
            for key, value in self._val_metrics.items():
                record[f"val/{key}" if key in record else key] = value
        self._write_record(runner, record)
        runner.logger.info(self._epoch_line(runner, record, fresh))
        writer = self._tb(runner)
        if writer is not None:

            def scalars() -> None:
                for key, value in means.items():
                    writer.add_scalar(f"train/{key}", value, runner.iter)
                for k, lr in enumerate(lrs):
                    writer.add_scalar(f"lr/pg{k}", lr, runner.iter)
                writer.add_scalar("train/epoch_time", epoch_time, runner.iter)
                writer.flush()

            self._guard(runner, "tensorboard", scalars)

    def after_train(self, runner: Runner) -> None:
        """Draw ``results.png`` and log the final summary."""
        if not runner.is_main:
            return
        self._finished = True
        self._close_bar()
        self._make_plots(runner)
        runner.logger.info(self._final_line(runner))

    def after_run(self, runner: Runner) -> None:
        """Plots if training ended early; close the bar and the TensorBoard writer."""
        self._close_bar()
        if runner.is_main and not self._finished:
            self._finished = True
            self._make_plots(runner)
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._writer = None

    # ------------------------------------------------------------------ helpers
    def _bar_wanted(self) -> bool:
        if self._use_bar is None:
            if self.progress is None:
                self._use_bar = bool(getattr(sys.stderr, "isatty", lambda: False)())
            else:
                self._use_bar = bool(self.progress)
        return self._use_bar

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    @staticmethod
    def _steps_per_epoch(runner: Runner) -> int | None:
        try:
            return len(runner.train_loader)
        except TypeError:
            return None

    def _guard(self, runner: Runner, what: str, fn: Any) -> Any:
        """Run ``fn``; on an error warn once per ``what`` and stop doing ``what``."""
        if what in self._disabled:
            return None
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - logging must never kill training
            self._disabled.add(what)
            runner.logger.warning("LoggerHook: %s disabled after %s: %s", what, type(exc).__name__, exc)
            return None

    def _eta(self, runner: Runner) -> float:
        """Seconds left in the run: steps at the mean step time plus per-epoch overhead."""
        if not self._steps_timed:
            return float("nan")
        n = self._steps_per_epoch(runner) or 0
        left_epochs = max(runner.max_epochs - runner.epoch - 1, 0)
        left_steps = left_epochs * n + max(n - runner.step_in_epoch - 1, 0)
        overhead = (sum(self._overheads) / len(self._overheads)) if self._overheads else 0.0
        return left_steps * self._steps_time / self._steps_timed + (left_epochs + 1) * overhead

    def _ips(self, runner: Runner) -> float:
        batch = getattr(runner, "batch", None) or {}
        img = batch.get("img") if isinstance(batch, dict) else None
        bs = int(img.shape[0]) if img is not None else 0
        avg = sum(self._step_times) / len(self._step_times) if self._step_times else 0.0
        return bs / avg if avg > 0 else 0.0

    @staticmethod
    def _max_mem_mb(runner: Runner) -> float | None:
        device = getattr(runner, "device", None)
        if device is None or getattr(device, "type", str(device)) != "cuda" or not torch.cuda.is_available():
            return None
        return torch.cuda.max_memory_allocated(device) / 2**20

    def _postfix(self, runner: Runner) -> str:
        parts = [f"{k}={_fmt_value(v)}" for k, v in self._means.means().items()]
        if self._means.skipped:
            parts.append(f"skipped={self._means.skipped}")
        if self._lrs:
            parts.append(f"lr={self._lrs[0]:.3g}")
        parts.append(f"{self._ips(runner):.1f}img/s")
        parts.append(f"eta={fmt_time(self._eta(runner))}")
        mem = self._max_mem_mb(runner)
        if mem is not None:
            parts.append(f"mem={mem / 1024:.1f}G")
        return " ".join(parts)

    def _log_line(self, runner: Runner) -> str:
        n = self._steps_per_epoch(runner)
        width = len(str(n)) if n else 1
        step = f"{runner.step_in_epoch + 1:>{width}}/{n if n else '?'}"
        parts = [
            f"Epoch: [{runner.epoch + 1}/{runner.max_epochs}] [{step}]",
            f"lr: {self._lrs[0]:.6f}" if self._lrs else "",
            *(f"{k}: {_fmt_value(v)}" for k, v in self._means.means().items()),
            f"skipped: {self._means.skipped}" if self._means.skipped else "",
            f"eta: {fmt_time(self._eta(runner))}",
            f"batch_cost: {sum(self._step_times) / max(len(self._step_times), 1):.4f} s",
            f"ips: {self._ips(runner):.1f} images/s",
        ]
        mem = self._max_mem_mb(runner)
        if mem is not None:
            parts.append(f"max_mem: {mem:.0f} MB")
        return "  ".join(p for p in parts if p)

    @staticmethod
    def _epoch_line(runner: Runner, record: dict[str, Any], fresh: bool) -> str:
        skip = {"epoch", "iter", "lr", "time", "val_time", "skipped"}
        line = f"Epoch {record['epoch']}/{runner.max_epochs} done in {fmt_time(record['time'])}:"
        train_part, val_part = [], []
        after_lr = False
        for k, v in record.items():
            if k == "lr":
                after_lr = True
            if k in skip or not isinstance(v, (int, float)):
                continue
            (val_part if after_lr else train_part).append(f"{k} {_fmt_value(v)}")
        if record.get("lr"):
            train_part.append(f"lr {record['lr'][0]:.6g}")
        if record.get("skipped"):
            train_part.append(f"skipped {record['skipped']}")
        line += " " + " ".join(train_part)
        if fresh and val_part:
            line += " | " + " ".join(val_part)
        return line

    def _write_record(self, runner: Runner, record: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        path = Path(runner.work_dir) / METRICS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(clean, allow_nan=False) + "\n")

    def _tb(self, runner: Runner) -> Any:
        """The SummaryWriter, created on first use (purging events after ``runner.iter``)."""
        if not self.tensorboard or not runner.is_main or "tensorboard" in self._disabled:
            return None
        if self._writer is None:

            def make() -> Any:
                from torch.utils.tensorboard import SummaryWriter

                # Steps are iterations done: a resumed (or restarted) run hides the events
                # an earlier run logged after this point.
                log_dir = str(Path(runner.work_dir) / "tb")
                return SummaryWriter(log_dir=log_dir, purge_step=int(runner.iter) + 1)

            self._writer = self._guard(runner, "tensorboard", make)
        return self._writer

    def _tb_step_scalars(self, runner: Runner) -> None:
        writer = self._tb(runner)
        if writer is None or not self._window:
            return

        def scalars() -> None:
            step = runner.iter + 1
            keys = {k for d in self._window for k in d if k != "skipped"}
            for key in sorted(keys):
                vals = [d[key] for d in self._window if key in d and math.isfinite(d[key])]
                if vals:
                    writer.add_scalar(f"train_step/{key}", sum(vals) / len(vals), step)
            for k, lr in enumerate(self._lrs):
                writer.add_scalar(f"lr/pg{k}", lr, step)

        self._guard(runner, "tensorboard", scalars)
        self._window.clear()

    @staticmethod
    def _class_names(loader: Any) -> list[str] | None:
        names = getattr(getattr(loader, "dataset", None), "class_names", None)
        return list(names) if names is not None else None

    def _draw_train_batch(self, runner: Runner) -> None:
        if not self.plot_batch or not isinstance(runner.batch, dict) or "img" not in runner.batch:
            return

        def draw() -> None:
            from detreg.data.draw import draw_batch
            from detreg.hooks.logger_plots import save_rgb

            image = draw_batch(runner.batch, self._class_names(runner.train_loader) or ())
            save_rgb(Path(runner.work_dir) / "train_batch.jpg", image)
            writer = self._tb(runner)
            if writer is not None:
                writer.add_image("train/batch", image, runner.iter + 1, dataformats="HWC")

        self._guard(runner, "train_batch", draw)

    def _draw_val_predictions(self, runner: Runner) -> None:
        if runner.val_loader is None:
            return
        from detreg.hooks.logger_plots import draw_mosaic, save_rgb

        if self._val_batch is None:
            batch = next(iter(runner.val_loader))
            self._val_batch = batch["img"][: self.val_images].detach().cpu().clone()
        model = runner.eval_model
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                preds = model.predict(self._val_batch.to(device).float() / 255.0)
        finally:
            model.train(was_training)
        boxes = []
        for p in preds:
            p = p.detach().float().cpu().numpy().reshape(-1, 6)
            boxes.append(p[p[:, 4] >= self.conf_thres])
        names = self._class_names(runner.val_loader) or self._class_names(runner.train_loader)
        image = draw_mosaic(self._val_batch, boxes, names)
        save_rgb(Path(runner.work_dir) / "val_predictions.jpg", image)
        writer = self._tb(runner)
        if writer is not None:
            writer.add_image("val/predictions", image, runner.iter, dataformats="HWC")

    def _make_plots(self, runner: Runner) -> None:
        if not self.plots:
            return
        path = Path(runner.work_dir) / METRICS_FILE
        if not path.is_file():
            return

        def plot() -> None:
            from detreg.hooks.logger_plots import plot_results

            plot_results(read_metrics(path), Path(runner.work_dir) / "results.png")

        self._guard(runner, "results_plot", plot)

    def _final_line(self, runner: Runner) -> str:
        work_dir = Path(runner.work_dir)
        records = read_metrics(work_dir / METRICS_FILE)
        total = sum(float(r.get("time") or 0.0) for r in records)
        session = time.time() - self._session_start if self._session_start else float("nan")
        line = f"Training done: {len(records)} epochs in {fmt_time(total)}"
        line += f" (this session {fmt_time(session)})."
        evals = [(r["epoch"], r["mAP50_95"]) for r in records if isinstance(r.get("mAP50_95"), (int, float))]
        if evals:
            best = max(evals, key=lambda t: t[1])
            line += f" mAP50_95 best {best[1]:.4f} (epoch {best[0]}),"
            line += f" last {evals[-1][1]:.4f} (epoch {evals[-1][0]})."
        outs = [p for p in _OUTPUTS if (work_dir / p).exists()]
        line += f" Outputs in {work_dir}: {', '.join(outs)}"
        return line
