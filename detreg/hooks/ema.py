"""``EMAHook``: keeps an exponential moving average of the model and offers it for evaluation."""

from __future__ import annotations

from typing import Any

from detreg.engine.hook import Hook, RunnerContract
from detreg.optim.ema import ModelEMA
from detreg.registry import HOOKS


@HOOKS.register()
class EMAHook(Hook):
    """Exponential moving average of the weights (YOLOv6: decay 0.9999, tau 2000).

    ``before_train`` (after ``configure_model``, so QAT/distillation surgery is included)
    builds its :class:`~detreg.optim.ema.ModelEMA` of the bare model and sets
    ``runner.eval_model`` to the averaged module, so evaluation and ``best.pt`` use it;
    ``after_optimizer_step`` folds the model in, once per real optimizer step. The EMA is
    kept on every rank (the models are identical under DDP), so any rank can evaluate it.

    Checkpoints: ``on_save_checkpoint`` writes the EMA state (averaged weights and
    ``updates``) under the top-level ``checkpoint["ema"]`` (what eval/export/infer load
    first), ``on_load_checkpoint`` restores it on resume (``before_train`` ran before).
    """

    priority = 30

    def __init__(self, decay: float = 0.9999, tau: float = 2000.0) -> None:
        self.decay = decay
        self.tau = tau
        self.ema: ModelEMA | None = None

    def before_train(self, runner: RunnerContract) -> None:
        """Average the (unwrapped) model from here on; evaluate the average."""
        self.ema = ModelEMA(runner.unwrapped_model, decay=self.decay, tau=self.tau)
        runner.eval_model = self.ema.module

    def after_optimizer_step(self, runner: RunnerContract) -> None:
        """Fold the just-updated weights into the average."""
        self.ema.update(runner.unwrapped_model)

    def on_save_checkpoint(self, runner: RunnerContract, checkpoint: dict[str, Any]) -> None:
        """Store the EMA under ``checkpoint["ema"]``."""
        if self.ema is not None:
            checkpoint["ema"] = self.ema.state_dict()

    def on_load_checkpoint(self, runner: RunnerContract, checkpoint: dict[str, Any]) -> None:
        """Restore the EMA saved by :meth:`on_save_checkpoint` (warn when there is none)."""
        state = checkpoint.get("ema")
        if self.ema is None:
            return
        if state:
            self.ema.load_state_dict(state)
        else:
            runner.logger.warning("resume: the checkpoint has no EMA state; the EMA starts from the model")
