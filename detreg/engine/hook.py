"""The ``Hook`` base class, the runner contract hooks may rely on, and hook ordering.

A hook overrides the events it cares about; each is called as ``hook.<event>(runner)``
(see :data:`detreg.events.EVENTS` for the order). ``on_save_checkpoint(runner, checkpoint)``,
``on_load_checkpoint(runner, checkpoint)`` and ``on_exception(runner, exc)`` carry one
more argument. Overrides are checked when the class is defined: a misspelt event name or
arguments that do not fit the event are a ``TypeError`` naming the method. A hook with
``state_dict``/``load_state_dict`` has its state saved in checkpoints under
``checkpoint["hooks"][<config name>]``.

Ordering: ``priority`` (int, lower runs first, default 50; ties keep config order), see
:func:`order_hooks`. Set it on the class or per instance from the config
(``hooks.my.priority: 45``).

Hooks see the runner only through :class:`RunnerContract`: annotate ``runner`` with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from detreg.events import ALL_EVENTS, bad_signatures, misspelt_events

if TYPE_CHECKING:
    import torch

    from detreg.engine.step_record import StepRecord
    from detreg.engine.storage import EpochStorage

T = TypeVar("T")


class RunnerContract(Protocol):
    """What a hook may use of the runner (the concrete ``Runner`` satisfies it).

    Read-only for hooks unless noted. ``storage`` is the epoch's record of step scalars
    (any hook may ``put_scalar``); ``step_record`` is the current step's forward record
    (set between ``before_step`` and the end of the step; hooks add loss terms to it in
    ``after_forward``); ``eval_model`` may be *set* by a hook that owns a better model for
    evaluation and ``best.pt`` (the EMA); ``accumulate`` may be changed (warmup).
    ``resume_from`` is the checkpoint the run resumes from (None for a fresh run): hooks that
    prepare state before training (pretrained weights, CoT) skip that work when it is set,
    since the checkpoint restores it.
    """

    cfg: dict[str, Any]
    context: dict[str, Any]
    work_dir: Path
    resume_from: Path | None
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train_loader: Any
    val_loader: Any
    epoch: int
    max_epochs: int
    iter: int
    step_in_epoch: int
    accumulate: int
    batch: dict[str, Any] | None
    outputs: dict[str, Any]
    metrics: dict[str, Any]
    storage: EpochStorage
    step_record: StepRecord | None
    rank: int
    world_size: int
    device: torch.device
    logger: logging.Logger

    @property
    def unwrapped_model(self) -> torch.nn.Module:
        """The model without its DDP wrapper."""

    @property
    def eval_model(self) -> torch.nn.Module:
        """What evaluation and ``best.pt`` use (settable by a hook; None = the model)."""

    @property
    def is_main(self) -> bool:
        """True on rank 0."""

    def call(self, event: str, *args: Any) -> None:
        """Fire an event on every hook."""

    def add_trainable(self, name: str, module: torch.nn.Module) -> None:
        """In ``configure_model``: the optimizer trains ``module`` too (kept out of the model)."""

    def validate(self, evaluate: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``evaluate`` between ``before_val`` and ``after_val``."""

    def checkpoint_state(self) -> dict[str, Any]:
        """The checkpoint dict of the current moment."""

    def save_checkpoint(self, path: str | Path, state: dict[str, Any] | None = None) -> Path:
        """Write a checkpoint (main process only)."""


class Hook:
    """Base class of all hooks. Override the events you need; the rest do nothing."""

    priority: int = 50

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        problems = misspelt_events(cls) + bad_signatures(cls)
        if problems:
            raise TypeError("; ".join(problems))

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def in_last_epochs(runner: RunnerContract, n: int) -> bool:
        """True when the current epoch is one of the last ``n`` (never for ``n <= 0``)."""
        return n > 0 and runner.epoch >= runner.max_epochs - n

    @staticmethod
    def is_last_epoch(runner: RunnerContract) -> bool:
        """True in the final epoch of the run."""
        return runner.epoch + 1 >= runner.max_epochs

    @staticmethod
    def every_n_epochs(runner: RunnerContract, n: int) -> bool:
        """True after every ``n``-th epoch (1-based count; never for ``n <= 0``)."""
        return n > 0 and (runner.epoch + 1) % n == 0

    # ------------------------------------------------------------------ events
    def before_run(self, runner: RunnerContract) -> None:
        """Once, first, before anything is built that a hook might want to change."""

    def configure_model(self, runner: RunnerContract) -> None:
        """Model surgery (QAT, distillation); before the optimizer, EMA and DDP exist."""

    def before_train(self, runner: RunnerContract) -> None:
        """After the optimizer, scheduler and loaders exist; before the first epoch."""

    def before_epoch(self, runner: RunnerContract) -> None:
        """At the start of each epoch (``runner.epoch`` is the 0-based epoch)."""

    def before_step(self, runner: RunnerContract) -> None:
        """Before each training step (``runner.batch`` holds the batch)."""

    def after_forward(self, runner: RunnerContract) -> None:
        """Between forward and backward, inside the step's autocast: ``runner.step_record``
        holds images, targets, the model's raw outputs and losses; add loss terms with
        ``runner.step_record.add_loss(name, tensor)``."""

    def after_backward(self, runner: RunnerContract) -> None:
        """After the backward pass, before any optimizer step (gradients are there)."""

    def after_optimizer_step(self, runner: RunnerContract) -> None:
        """Only when the optimizer really stepped (gradient accumulation)."""

    def after_step(self, runner: RunnerContract) -> None:
        """After each training step (``runner.outputs`` / ``runner.storage.latest`` hold its scalars)."""

    def after_epoch(self, runner: RunnerContract) -> None:
        """At the end of each epoch."""

    def before_val(self, runner: RunnerContract) -> None:
        """Before a validation pass."""

    def after_val(self, runner: RunnerContract) -> None:
        """After a validation pass (``runner.metrics`` holds its results)."""

    def after_train(self, runner: RunnerContract) -> None:
        """After the last epoch, when training ended normally."""

    def after_run(self, runner: RunnerContract) -> None:
        """Always, last, even after an exception."""

    def on_save_checkpoint(self, runner: RunnerContract, checkpoint: dict) -> None:
        """A checkpoint dict is about to be written; add to it if you need to."""

    def on_load_checkpoint(self, runner: RunnerContract, checkpoint: dict) -> None:
        """A checkpoint dict was loaded (resume)."""

    def on_exception(self, runner: RunnerContract, exc: BaseException) -> None:
        """The run failed with ``exc`` (called before ``after_run``)."""


def overridden_events(hook_cls: type) -> list[str]:
    """The events ``hook_cls`` implements (defined below :class:`Hook` in its MRO)."""
    out = []
    for event in ALL_EVENTS:
        for klass in hook_cls.__mro__:
            if klass is Hook or klass is object:
                break
            if event in vars(klass):
                out.append(event)
                break
    return out


def hook_priority(hcfg: Mapping[str, Any]) -> int:
    """The priority a hook config asks for (its ``priority`` key, else the class default)."""
    if hcfg.get("priority") is not None:
        return int(hcfg["priority"])
    from detreg.registry import HOOKS

    return int(getattr(HOOKS.get(hcfg["type"]), "priority", 50))


def order_hooks(named: Iterable[tuple[str, T]], priority: Callable[[T], int]) -> list[tuple[str, T]]:
    """The one hook order: by ``priority(item)``, lower first; ties keep the given (config) order.

    The runner orders built hooks with ``lambda h: h.priority``; ``detreg hooks`` and
    config checks order hook configs with :func:`hook_priority`: the same rule.
    """
    items = list(named)
    return [item for _, _, item in sorted((priority(v), i, (n, v)) for i, (n, v) in enumerate(items))]
