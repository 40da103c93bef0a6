"""``LRSchedulerHook``: steps ``runner.scheduler`` (the runner itself never does)."""

from __future__ import annotations

import warnings

from detreg.engine.hook import Hook, RunnerContract
from detreg.registry import HOOKS

# With gradient accumulation the first scheduler step may come before the first
# optimizer step; torch warns about that, harmlessly here.
_EARLY_STEP_WARNING = r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`"


@HOOKS.register()
class LRSchedulerHook(Hook):
    """Step the LR scheduler once per epoch (``after_epoch``) or per iteration (``after_step``).

    ``by_epoch`` defaults to the scheduler's own ``by_epoch`` attribute (True if it has
    none). Per-iteration stepping counts every training batch (not optimizer steps), so a
    detreg schedule's position equals ``runner.iter`` at ``before_step``. In
    ``before_epoch`` a detreg schedule (one with ``set_position``) whose position disagrees
    with the runner's epoch/iteration (e.g. a checkpoint without scheduler state) is moved
    there, so resume lands right. Warmup (``WarmupHook``, same priority, other events)
    overrides the lr during its first steps.
    """

    priority = 20

    def __init__(self, by_epoch: bool | None = None) -> None:
        self.by_epoch = by_epoch

    def _by_epoch(self, runner: RunnerContract) -> bool:
        if self.by_epoch is not None:
            return self.by_epoch
        return bool(getattr(runner.scheduler, "by_epoch", True))

    def before_epoch(self, runner: RunnerContract) -> None:
        """Move a detreg schedule to the runner's position if they disagree."""
        sched = runner.scheduler
        if sched is None or not hasattr(sched, "set_position"):
            return
        expected = runner.epoch if self._by_epoch(runner) else runner.iter
        if sched.last_epoch != expected:
            sched.set_position(expected)

    def after_step(self, runner: RunnerContract) -> None:
        """Per-iteration stepping."""
        if runner.scheduler is not None and not self._by_epoch(runner):
            self._step(runner)

    def after_epoch(self, runner: RunnerContract) -> None:
        """Per-epoch stepping (before the checkpoint hooks save it)."""
        if runner.scheduler is not None and self._by_epoch(runner):
            self._step(runner)

    @staticmethod
    def _step(runner: RunnerContract) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_EARLY_STEP_WARNING)
            runner.scheduler.step()
