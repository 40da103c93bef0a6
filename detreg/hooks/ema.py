"""``EMAHook``: keeps ``runner.ema``, a ``ModelEMA`` of the training model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from detreg.engine.hook import Hook
from detreg.optim.ema import ModelEMA
from detreg.registry import HOOKS

if TYPE_CHECKING:
    from detreg.engine.runner import Runner


@HOOKS.register()
class EMAHook(Hook):
    """Exponential moving average of the weights (YOLOv6: decay 0.9999, tau 2000).

    ``before_train`` (after ``configure_model``, so QAT/distillation surgery is included)
    sets ``runner.ema = ModelEMA(bare model)``; ``after_optimizer_step`` folds the model in,
    once per real optimizer step. The EMA is kept on every rank (the models are identical
    under DDP), so any rank can evaluate it.

    Checkpoints: the runner saves ``runner.ema.state_dict()`` (averaged weights and
    ``updates``) under ``checkpoint["ema"]`` and, on resume, calls
    ``runner.ema.load_state_dict()`` **after** the ``before_train`` hooks ran. This hook
    relies on that order: it builds a fresh EMA in ``before_train`` that the checkpoint
    then overwrites. The hook itself has no state.
    """

    priority = 30

    def __init__(self, decay: float = 0.9999, tau: float = 2000.0) -> None:
        self.decay = decay
        self.tau = tau

    def before_train(self, runner: Runner) -> None:
        """Create ``runner.ema`` from the (unwrapped) model."""
        runner.ema = ModelEMA(runner.unwrapped_model, decay=self.decay, tau=self.tau)

    def after_optimizer_step(self, runner: Runner) -> None:
        """Fold the just-updated weights into the average."""
        runner.ema.update(runner.unwrapped_model)
