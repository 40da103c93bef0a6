"""Stopping a training run on SIGTERM/SIGINT: finish the current step, clean up, say how to resume.

:func:`stop_on_signals` installs handlers for the run's life (main thread, one process):
a signal that arrives during a training step lets the step finish, then the runner raises
:class:`TrainingInterrupted` between steps; one that arrives anywhere else (loading data,
evaluation, saving) or a second signal raises it at once. Either way ``on_exception`` and
``after_run`` run, and no half-epoch checkpoint is written (it would not resume exactly):
the last checkpoint stays what it was.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {self.name}")


class StopRequest:
    """What the runner checks between steps: ``signum`` of a signal that asked to stop."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.in_step = False

    def check(self) -> None:
        """Raise :class:`TrainingInterrupted` when a stop was asked for."""
        if self.signum is not None:
            raise TrainingInterrupted(self.signum)


@contextlib.contextmanager
def stop_on_signals(request: StopRequest, logger: Any) -> Iterator[StopRequest]:
    """Handle SIGTERM/SIGINT as the module docstring says while the block runs.

    Does nothing outside the main thread (signal handlers can only be set there).
    """
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if request.in_step and request.signum is None:
            request.signum = signum
            logger.warning(
                "%s received: stopping after this step (send it again to stop at once)",
                signal.Signals(signum).name,
            )
            return
        raise TrainingInterrupted(signum)

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield request
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
