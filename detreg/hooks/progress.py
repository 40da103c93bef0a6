"""``ProgressHook``: what a person watches: start summary, bar or lines, epoch lines, final summary."""

from __future__ import annotations

import datetime
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from detreg.engine.hook import Hook, RunnerContract
from detreg.hooks.guard import OutputGuard
from detreg.hooks.metrics_file import METRICS_FILE, read_metrics
from detreg.registry import HOOKS

#: Files a run may leave in its work dir, listed in the final summary when present.
OUTPUTS = (
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

#: Metrics shown in the epoch line when the epoch evaluated (others stay in metrics.jsonl).
SHOWN_METRICS = {"mAP50_95": "mAP50-95", "mAP50": "mAP50"}


def fmt_time(seconds: float) -> str:
    """``H:MM:SS`` for a duration in seconds."""
    if not math.isfinite(seconds):
        return "?"
    return str(datetime.timedelta(seconds=int(max(seconds, 0))))


def fmt_value(v: float) -> str:
    """A loss value, 4 decimals (scientific when tiny)."""
    return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"


def _count(loader: Any) -> int | None:
    try:
        return len(loader.dataset)
    except (AttributeError, TypeError):
        return None


def _steps(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


@HOOKS.register()
class ProgressHook(Hook):
    """Progress on stdout through ``runner.logger`` (main process only).

    - At the start: work dir, model (parameters, GFLOPs at the train size), dataset sizes,
      epochs and iterations.
    - Per step: a tqdm bar on stdout (epoch ``e/E``, running means, lr, images/s, ETA of the
      run) when stdout is a terminal and ``bar`` is not false; otherwise (a pipe, a file:
      ``detreg-train ... | tee log``) a plain line every ``interval`` steps, no bar fragments.
    - Per epoch: one line: epoch, losses, lr, mAP when the epoch evaluated, time.
    - At the end: epochs, total time, best/last mAP, the outputs written.

    Every scalar comes from ``runner.storage``, so a hook's own scalars show up too.

    Args:
        interval: steps between plain lines.
        bar: True/False forces the bar on/off; None: a bar only when stdout is a terminal.
        summary: log the start summary (the GFLOPs count runs the model once on meta tensors).
    """

    priority = 95

    def __init__(self, interval: int = 20, bar: bool | None = None, summary: bool = True) -> None:
        self.interval = max(1, int(interval))
        self.bar = bar
        self.summary = summary
        self._bar: Any = None
        self._session_start: float | None = None
        self._steps_time = 0.0
        self._steps_timed = 0
        self._overheads: list[float] = []
        self._records: list[dict[str, Any]] = []
        self._finished = False
        self._guard = OutputGuard("ProgressHook")

    # ------------------------------------------------------------------ events
    def before_train(self, runner: RunnerContract) -> None:
        """Start the clock; log what this run is."""
        self._session_start = time.time()
        if runner.is_main and self.summary:
            for line in self._guard(runner, "summary", lambda: start_lines(runner)) or ():
                runner.logger.info(line)

    def before_epoch(self, runner: RunnerContract) -> None:
        """Open this epoch's bar."""
        if not runner.is_main:
            return
        if self._session_start is None:
            self._session_start = time.time()
        if self._use_bar():
            from tqdm import tqdm

            self._close_bar()
            self._bar = tqdm(
                total=_steps(runner.train_loader),
                desc=f"{runner.epoch + 1}/{runner.max_epochs}",
                file=sys.stdout,
                dynamic_ncols=True,
                leave=True,
            )

    def after_step(self, runner: RunnerContract) -> None:
        """Move the bar, or log a line every ``interval`` steps."""
        if not runner.is_main:
            return
        storage = runner.storage
        if storage.step_times:
            self._steps_time += storage.step_times[-1]
            self._steps_timed += 1
        step, n = runner.step_in_epoch + 1, _steps(runner.train_loader)
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(runner), refresh=False)
            self._bar.update(1)
            if n is not None and step >= n:
                self._close_bar()
        elif step % self.interval == 0 or (n is not None and step >= n):
            runner.logger.info(self._step_line(runner))

    def after_epoch(self, runner: RunnerContract) -> None:
        """Log the epoch line (after evaluation, which runs at a lower priority)."""
        if not runner.is_main:
            return
        self._close_bar()
        record = runner.storage.record()
        self._records.append(record)
        self._overheads.append(max(record["time"] - sum(runner.storage.step_times), 0.0))
        runner.logger.info(epoch_line(record, runner.max_epochs))

    def after_train(self, runner: RunnerContract) -> None:
        """Log the final summary."""
        self._close_bar()
        if runner.is_main and not self._finished:
            self._finished = True
            runner.logger.info(self._final_line(runner))

    def after_run(self, runner: RunnerContract) -> None:
        """Close the bar (also after a failure)."""
        self._close_bar()

    # ------------------------------------------------------------------ helpers
    def _use_bar(self) -> bool:
        if self.bar is None:
            return bool(getattr(sys.stdout, "isatty", lambda: False)())
        return bool(self.bar)

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _eta(self, runner: RunnerContract) -> float:
        """Seconds left in the run: steps at the mean step time plus per-epoch overhead."""
        if not self._steps_timed:
            return float("nan")
        n = _steps(runner.train_loader) or 0
        left_epochs = max(runner.max_epochs - runner.epoch - 1, 0)
        left_steps = left_epochs * n + max(n - runner.step_in_epoch - 1, 0)
        overhead = (sum(self._overheads) / len(self._overheads)) if self._overheads else 0.0
        return left_steps * self._steps_time / self._steps_timed + (left_epochs + 1) * overhead

    @staticmethod
    def _ips(runner: RunnerContract) -> float:
        t = runner.storage.step_time(20)
        return runner.storage.images_per_step / t if t > 0 else 0.0

    def _fields(self, runner: RunnerContract) -> list[tuple[str, str]]:
        """(name, value) pairs of the running step: mean losses, lr, speed, eta, memory."""
        storage = runner.storage
        fields = [(k, fmt_value(v)) for k, v in storage.means().items()]
        if storage.skipped:
            fields.append(("skipped", str(storage.skipped)))
        if storage.lrs:
            fields.append(("lr", f"{storage.lrs[0]:.4g}"))
        fields.append(("img/s", f"{self._ips(runner):.1f}"))
        fields.append(("eta", fmt_time(self._eta(runner))))
        mem = _max_mem_gb(runner)
        if mem is not None:
            fields.append(("mem", f"{mem:.1f}G"))
        return fields

    def _postfix(self, runner: RunnerContract) -> str:
        return " ".join(f"{v}{k}" if k == "img/s" else f"{k}={v}" for k, v in self._fields(runner))

    def _step_line(self, runner: RunnerContract) -> str:
        n = _steps(runner.train_loader)
        width = len(str(n)) if n else 1
        step = f"{runner.step_in_epoch + 1:>{width}}/{n or '?'}"
        head = f"Epoch {runner.epoch + 1}/{runner.max_epochs} [{step}]"
        body = [f"{v} {k}" if k == "img/s" else f"{k} {v}" for k, v in self._fields(runner)]
        return "  ".join([head, *body])

    def _final_line(self, runner: RunnerContract) -> str:
        work_dir = Path(runner.work_dir)
        records = read_metrics(work_dir / METRICS_FILE) or self._records
        total = sum(float(r.get("time") or 0.0) for r in records)
        session = time.time() - self._session_start if self._session_start else float("nan")
        line = (
            f"Training done: {len(records)} epochs in {fmt_time(total)} (this session {fmt_time(session)})."
        )
        evals = [(r["epoch"], r["mAP50_95"]) for r in records if isinstance(r.get("mAP50_95"), (int, float))]
        if evals:
            best = max(evals, key=lambda t: t[1])
            last = evals[-1]
            line += f" mAP50-95 best {best[1]:.4f} (epoch {best[0]}), last {last[1]:.4f} (epoch {last[0]})."
        outs = [p for p in OUTPUTS if (work_dir / p).exists()]
        line += f" Outputs in {work_dir}: {', '.join(outs)}"
        return line


def epoch_line(record: dict[str, Any], max_epochs: int) -> str:
    """The one line a person reads per epoch: epoch, losses, lr, mAP (when evaluated), time.

    ``loss`` first, its parts (and any hook's scalars) in brackets; validation metrics
    beyond mAP stay in metrics.jsonl and the evaluation table.
    """
    losses = [
        (k, v) for k, v in record.items() if k not in _NOT_LOSSES and list(record).index(k) < _lr_pos(record)
    ]
    losses = [(k, v) for k, v in losses if isinstance(v, (int, float)) and not isinstance(v, bool)]
    parts = [f"Epoch {record['epoch']}/{max_epochs}"]
    total = dict(losses).get("loss")
    rest = [f"{k} {fmt_value(v)}" for k, v in losses if k != "loss"]
    if total is not None:
        parts.append(f"loss {fmt_value(total)}" + (f" ({', '.join(rest)})" if rest else ""))
    elif rest:
        parts.append(", ".join(rest))
    if record.get("skipped"):
        parts.append(f"skipped {record['skipped']}")
    if record.get("lr"):
        parts.append(f"lr {record['lr'][0]:.4g}")
    shown = [
        f"{label} {record[k]:.4f}"
        for k, label in SHOWN_METRICS.items()
        if isinstance(record.get(k), (int, float))
    ]
    if shown:
        parts.append(" ".join(shown))
    parts.append(fmt_time(record.get("time", float("nan"))))
    return "  ".join(parts)


_NOT_LOSSES = frozenset({"epoch", "iter", "skipped"})


def _lr_pos(record: dict[str, Any]) -> int:
    keys = list(record)
    return keys.index("lr") if "lr" in keys else len(keys)


def _max_mem_gb(runner: RunnerContract) -> float | None:
    device = getattr(runner, "device", None)
    if device is None or getattr(device, "type", str(device)) != "cuda" or not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30


def start_lines(runner: RunnerContract) -> list[str]:
    """What this run is: work dir, model size and cost, data sizes, epochs and iterations."""
    from detreg.models.summary import model_summary

    lines = [f"Work dir: {Path(runner.work_dir).resolve()}"]
    model = runner.unwrapped_model
    size = runner.context.get("img_size") or runner.cfg.get("train", {}).get("img_size")
    params = sum(p.numel() for p in model.parameters())
    text = f"Model: {type(model).__name__}, {params / 1e6:.2f}M parameters"
    if size and hasattr(model, "strides"):
        try:
            text += f", {model_summary(model, size)['gflops']:.2f} GFLOPs at {size}"
        except Exception:  # noqa: BLE001 - the count is a courtesy; training goes on
            pass
    lines.append(text)
    data = [f"train {_count(runner.train_loader)} images"]
    if runner.val_loader is not None:
        data.append(f"val {_count(runner.val_loader)} images")
    lines.append("Data: " + ", ".join(data))
    steps = _steps(runner.train_loader)
    total = f"{steps * runner.max_epochs} iterations" if steps else "? iterations"
    lines.append(f"Training: {runner.max_epochs} epochs x {steps or '?'} iterations = {total}")
    return lines
