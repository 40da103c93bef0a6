"""The ``Hook`` base class: every training feature beyond the bare loop is a hook.

A hook overrides the events it cares about; each is called as ``hook.<event>(runner)``
(see :data:`detreg.events.EVENTS` for the order). ``on_save_checkpoint(runner, ckpt)``,
``on_load_checkpoint(runner, ckpt)`` and ``on_exception(runner, exc)`` carry one more
argument. A hook with ``state_dict``/``load_state_dict`` has its state saved in
checkpoints under ``checkpoint["hooks"][<config name>]``.

Ordering: ``priority`` (int, lower runs first, default 50; ties keep config order). Set it
on the class or per instance from the config (``hooks.my.priority: 45``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from detreg.events import misspelt_events

if TYPE_CHECKING:
    from detreg.engine.runner import Runner


class Hook:
    """Base class of all hooks. Override the events you need; the rest do nothing."""

    priority: int = 50

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        problems = misspelt_events(cls)
        if problems:
            raise TypeError("; ".join(problems))

    def before_run(self, runner: Runner) -> None:
        """Once, first, before anything is built that a hook might want to change."""

    def configure_model(self, runner: Runner) -> None:
        """Model surgery (QAT, distillation); before the optimizer, EMA and DDP exist."""

    def before_train(self, runner: Runner) -> None:
        """After the optimizer, scheduler and loaders exist; before the first epoch."""

    def before_epoch(self, runner: Runner) -> None:
        """At the start of each epoch (``runner.epoch`` is the 0-based epoch)."""

    def before_step(self, runner: Runner) -> None:
        """Before each training step (``runner.batch`` holds the batch)."""

    def after_backward(self, runner: Runner) -> None:
        """After the backward pass, before any optimizer step (gradients are there)."""

    def after_optimizer_step(self, runner: Runner) -> None:
        """Only when the optimizer really stepped (gradient accumulation)."""

    def after_step(self, runner: Runner) -> None:
        """After each training step (``runner.outputs`` holds the loss dict)."""

    def after_epoch(self, runner: Runner) -> None:
        """At the end of each epoch."""

    def before_val(self, runner: Runner) -> None:
        """Before a validation pass."""

    def after_val(self, runner: Runner) -> None:
        """After a validation pass (``runner.metrics`` holds its results)."""

    def after_train(self, runner: Runner) -> None:
        """After the last epoch, when training ended normally."""

    def after_run(self, runner: Runner) -> None:
        """Always, last, even after an exception."""

    def on_save_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        """A checkpoint dict is about to be written; add to it if you need to."""

    def on_load_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        """A checkpoint dict was loaded (resume)."""

    def on_exception(self, runner: Runner, exc: BaseException) -> None:
        """The run failed with ``exc`` (called before ``after_run``)."""
