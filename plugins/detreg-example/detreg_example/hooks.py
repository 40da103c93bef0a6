"""EventRecorderHook: writes every event a run fires to ``work_dir/events.json``."""

from __future__ import annotations

import json
from typing import Any

from detreg.engine import Hook
from detreg.events import ALL_EVENTS


class EventRecorderHook(Hook):
    """Record ``(event, epoch, iter)`` for every event; dump them at ``after_run``.

    Args:
        filename: file name inside the run's work dir.
        steps: record per-step events too (``before_step``... can be many).
    """

    priority = 45

    def __init__(self, filename: str = "events.json", steps: bool = True) -> None:
        self.filename = filename
        self.steps = steps
        self.events: list[dict[str, Any]] = []

    def _record(self, event: str, runner: Any) -> None:
        if not self.steps and event in (
            "before_step",
            "after_backward",
            "after_optimizer_step",
            "after_step",
        ):
            return
        self.events.append({"event": event, "epoch": runner.epoch, "iter": runner.iter})

    def after_run(self, runner: Any) -> None:
        """Record the last event and write the file."""
        self._record("after_run", runner)
        path = runner.work_dir / self.filename
        path.write_text(json.dumps(self.events))


def _make_recorder(event: str) -> Any:
    def method(self: EventRecorderHook, runner: Any, *args: Any) -> None:
        self._record(event, runner)

    method.__name__ = event
    method.__doc__ = f"Record {event}."
    return method


for _event in ALL_EVENTS:
    if _event != "after_run":
        setattr(EventRecorderHook, _event, _make_recorder(_event))
