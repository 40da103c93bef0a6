"""LoadWeightsHook: finetune from pretrained weights with shape-matched partial loading."""

from __future__ import annotations

from detreg.engine.checkpoint import describe_mismatch, load_checkpoint, load_matching, model_state
from detreg.engine.hook import Hook, RunnerContract
from detreg.registry import HOOKS


@HOOKS.register()
class LoadWeightsHook(Hook):
    """Load ``path`` into the model before training (``configure_model``, priority 5).

    Entries whose name and shape match are loaded; the rest (a new head for another
    number of classes, say) keep their initialisation. A full load is reported at INFO; a
    partial one is a warning saying which modules and shapes did not fit.

    Args:
        path: a detreg checkpoint (``best.pt``, ``last.pt``) or a bare state dict file.
        prefer_ema: take the EMA weights when the checkpoint has them.
        strict: fail instead of skipping entries that do not match.
    """

    priority = 5

    def __init__(self, path: str, prefer_ema: bool = True, strict: bool = False) -> None:
        self.path = path
        self.prefer_ema = prefer_ema
        self.strict = strict

    def configure_model(self, runner: RunnerContract) -> None:
        """Load and report."""
        from detreg.errors import DetregError

        ckpt = load_checkpoint(self.path)
        state = model_state(ckpt, self.prefer_ema) if "model" in ckpt or "ema" in ckpt else ckpt
        state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        own = runner.unwrapped_model.state_dict()
        mismatch = describe_mismatch(own, state)
        loaded, skipped = load_matching(runner.unwrapped_model, state)
        if self.strict and skipped:
            raise DetregError(f"{self.path}: the weights do not fit the model (strict: true): {mismatch}")
        if mismatch is None:
            runner.logger.info("pretrained %s: loaded all %d tensors", self.path, len(own))
        else:  # a partial load is normal for a new head, and a disaster for a wrong file: say which
            runner.logger.warning(
                "pretrained %s: loaded %d of %d tensors; the rest keep their initialisation: %s",
                self.path,
                len(loaded),
                len(own),
                mismatch,
            )
