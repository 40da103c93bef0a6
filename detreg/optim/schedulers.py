"""LR schedules (``SCHEDULERS``): cosine, linear and constant factors over the epochs.

Built by the runner as ``SCHEDULERS.build(cfg, optimizer=optimizer, context=ctx)``;
``epochs`` (and ``iters_per_epoch``, needed when ``by_epoch`` is false) come from the
run context. Each is a ``torch.optim.lr_scheduler.LRScheduler`` whose lr for group k
is ``base_lr_k * lf(x)``, with ``x`` in epochs: ``x = last_epoch`` when ``by_epoch``
(stepped once per epoch), else ``x = last_epoch / iters_per_epoch`` (stepped once per
training iteration, fractional epochs). The runner does not step it:
``detreg.hooks.lr_scheduler.LRSchedulerHook`` does.

``state_dict()`` holds only progress (``last_epoch``, ``base_lrs``, ...): the shape of
the schedule (``epochs``, ``lrf``, ...) always comes from the config, so a resumed run
with a longer ``train.epochs`` follows the new curve.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from detreg.registry import SCHEDULERS

#: Attributes that describe the schedule (from the config), never saved in state.
_CONFIG_KEYS = ("epochs", "lrf", "by_epoch", "iters_per_epoch")


class FactorLR(LRScheduler):
    """Base: ``lr_k = base_lr_k * lf(x)``; subclasses define :meth:`lf` (``x`` in epochs)."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        epochs: int,
        lrf: float = 0.01,
        by_epoch: bool = True,
        iters_per_epoch: int | None = None,
    ) -> None:
        if epochs <= 0:
            raise ValueError(f"epochs must be positive, got {epochs}")
        if not by_epoch and not iters_per_epoch:
            raise ValueError("by_epoch: false needs iters_per_epoch (a positive int)")
        self.epochs = epochs
        self.lrf = lrf
        self.by_epoch = by_epoch
        self.iters_per_epoch = iters_per_epoch
        super().__init__(optimizer)

    def lf(self, x: float) -> float:
        """The lr factor at ``x`` epochs (override)."""
        raise NotImplementedError

    def position_to_epochs(self, position: int) -> float:
        """Epochs (possibly fractional) at scheduler position ``position`` (``last_epoch``)."""
        return float(position) if self.by_epoch else position / self.iters_per_epoch

    def lrs_at(self, position: int) -> list[float]:
        """The lr of every param group at ``position`` (past ``epochs`` it stays at the end value)."""
        factor = self.lf(min(self.position_to_epochs(position), float(self.epochs)))
        return [base * factor for base in self.base_lrs]

    def get_lr(self) -> list[float]:
        """Closed form, so overwriting ``group['lr']`` (warmup) never drifts the schedule."""
        return self.lrs_at(self.last_epoch)

    def set_position(self, position: int) -> None:
        """Jump to ``position`` and write its lrs into the optimizer (no step counted)."""
        self.last_epoch = position
        lrs = self.lrs_at(position)
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def state_dict(self) -> dict[str, Any]:
        """Progress only (see the module docstring); plain data, ``weights_only``-loadable."""
        return {k: v for k, v in super().state_dict().items() if k not in _CONFIG_KEYS}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore progress; the schedule's shape stays as configured."""
        super().load_state_dict({k: v for k, v in state_dict.items() if k not in _CONFIG_KEYS})


def cosine_factor(x: float, epochs: int, lrf: float) -> float:
    """YOLOv6 cosine: ``((1 - cos(pi x / E)) / 2) * (lrf - 1) + 1``, 1 at 0, lrf at E."""
    return ((1 - math.cos(math.pi * x / epochs)) / 2) * (lrf - 1) + 1


def linear_factor(x: float, epochs: int, lrf: float) -> float:
    """Linear: ``(1 - x / E) * (1 - lrf) + lrf``, 1 at 0, lrf at E."""
    return (1 - x / epochs) * (1 - lrf) + lrf


@SCHEDULERS.register()
class CosineLR(FactorLR):
    """YOLOv6's cosine decay from ``lr`` to ``lr * lrf`` over ``epochs``."""

    def lf(self, x: float) -> float:
        """Cosine factor at ``x`` epochs."""
        return cosine_factor(x, self.epochs, self.lrf)


@SCHEDULERS.register()
class LinearLR(FactorLR):
    """Linear decay from ``lr`` to ``lr * lrf`` over ``epochs``."""

    def lf(self, x: float) -> float:
        """Linear factor at ``x`` epochs."""
        return linear_factor(x, self.epochs, self.lrf)


@SCHEDULERS.register()
class ConstantLR(FactorLR):
    """Constant lr (``lf = 1``; ``lrf`` is ignored)."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        epochs: int = 1,
        by_epoch: bool = True,
        iters_per_epoch: int | None = None,
    ) -> None:
        super().__init__(optimizer, epochs, 1.0, by_epoch, iters_per_epoch)

    def lf(self, x: float) -> float:
        """Always 1."""
        return 1.0
