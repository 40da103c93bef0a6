"""``OutputGuard``: a writer's failures become one warning, never the end of training."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from detreg.engine.hook import RunnerContract

T = TypeVar("T")


class OutputGuard:
    """Runs output jobs; the first error of a job warns once and switches that job off."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.disabled: set[str] = set()

    def run(self, runner: RunnerContract, what: str, fn: Callable[[], T]) -> T | None:
        """``fn()``, or None when ``what`` failed before or fails now (warned once)."""
        if what in self.disabled:
            return None
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - an output must never kill training
            self.disabled.add(what)
            runner.logger.warning("%s: %s disabled after %s: %s", self.owner, what, type(exc).__name__, exc)
            return None

    def __call__(self, runner: RunnerContract, what: str, fn: Callable[[], Any]) -> Any:
        return self.run(runner, what, fn)
