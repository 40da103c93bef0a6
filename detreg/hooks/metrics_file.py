"""``MetricsFileHook``: ``metrics.jsonl`` (one record per epoch) and ``results.png``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from detreg.engine.hook import Hook, RunnerContract
from detreg.hooks.guard import OutputGuard
from detreg.registry import HOOKS

METRICS_FILE = "metrics.jsonl"


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


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Append one record as a JSON line (non-finite floats written as null)."""
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(clean, allow_nan=False) + "\n")


@HOOKS.register()
class MetricsFileHook(Hook):
    """Append ``runner.storage.record()`` to ``work_dir/metrics.jsonl`` after every epoch.

    The record is written in ``after_epoch`` after evaluation (which runs at a lower
    priority), so an evaluated epoch carries its metrics; every scalar in the storage is a
    column, a hook's own scalars included (see ``EpochStorage.record`` for the keys).
    Always appended; :func:`read_metrics` reads it back resume-aware. ``results.png``
    (every curve vs epoch) is drawn at ``after_train``, or ``after_run`` when training
    failed. Main process only; no state across a resume.

    Args:
        plots: draw ``results.png``.
    """

    priority = 90

    def __init__(self, plots: bool = True) -> None:
        self.plots = plots
        self._guard = OutputGuard("MetricsFileHook")
        self._plotted = False

    def after_epoch(self, runner: RunnerContract) -> None:
        """Append the epoch's record."""
        if runner.is_main:
            append_record(Path(runner.work_dir) / METRICS_FILE, runner.storage.record())

    def after_train(self, runner: RunnerContract) -> None:
        """Draw ``results.png``."""
        self._plot(runner)

    def after_run(self, runner: RunnerContract) -> None:
        """Draw ``results.png`` if training ended early."""
        self._plot(runner)

    def _plot(self, runner: RunnerContract) -> None:
        path = Path(runner.work_dir) / METRICS_FILE
        if self._plotted or not self.plots or not runner.is_main or not path.is_file():
            return
        self._plotted = True

        def plot() -> None:
            from detreg.hooks.plots import plot_results

            plot_results(read_metrics(path), Path(runner.work_dir) / "results.png")

        self._guard(runner, "results_plot", plot)
