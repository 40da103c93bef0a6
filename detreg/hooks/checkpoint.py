"""Checkpoint hooks: ``last.pt`` every epoch (before eval) and ``best.pt`` after eval.

Two hooks because they sit on both sides of evaluation (priority 60 and 80): a crash in
evaluation never loses the epoch that was just trained. Neither knows the other: each
writes only its own files.
"""

from __future__ import annotations

from typing import Any

import torch

from detreg.engine.checkpoint import load_checkpoint, save_checkpoint
from detreg.engine.hook import Hook, RunnerContract
from detreg.registry import HOOKS


@HOOKS.register()
class CheckpointHook(Hook):
    """Write ``work_dir/last.pt`` after every epoch, and ``epoch_N.pt`` for the last N.

    Args:
        save_last_n: also keep ``epoch_{N}.pt`` (1-based) for each of the last N epochs
            (YOLOv6's ``save_ckpt_on_last_n_epoch``; 0 = never).
        interval: also keep ``epoch_{N}.pt`` every ``interval`` epochs (0 = never).
    """

    priority = 60

    def __init__(self, save_last_n: int = 0, interval: int = 0) -> None:
        self.save_last_n = save_last_n
        self.interval = interval

    def after_epoch(self, runner: RunnerContract) -> None:
        """Save ``last.pt`` (and the epoch copy when due)."""
        state = runner.checkpoint_state()
        runner.save_checkpoint(runner.work_dir / "last.pt", state)
        done = runner.epoch + 1
        keep = self.in_last_epochs(runner, self.save_last_n) or self.every_n_epochs(runner, self.interval)
        if keep:
            runner.save_checkpoint(runner.work_dir / f"epoch_{done}.pt", state)


@HOOKS.register()
class BestCheckpointHook(Hook):
    """Write ``best.pt`` when an evaluation reaches a new best ``metric`` (ties count).

    Also ``best_stop_aug.pt``: the best inside the last ``stop_aug_epochs`` epochs (the
    window where mosaic/mixup are off). At the end of training ``best.pt`` is stripped:
    the EMA weights (when any) become ``model``, the optimizer and EMA states are dropped
    and floats are stored in half precision. ``last.pt`` is not this hook's business.

    The best values so far are this hook's state (saved in every checkpoint by whoever
    writes it). A checkpoint written before an evaluation carries the values from before
    it, so after a resume the hook also reads the ``best_fitness`` stored in its own
    ``best.pt``/``best_stop_aug.pt`` of the run folder and keeps the larger: a resumed
    run never overwrites ``best.pt`` with a worse model.

    Args:
        metric: key of ``runner.metrics`` to maximise.
        stop_aug_epochs: size of the stop-aug window (0: no ``best_stop_aug.pt``); comes
            from ``train.stop_aug_epochs`` through the run context, the StopAugHook's value.
        strip: strip ``best.pt`` (and ``best_stop_aug.pt``) at the end.
    """

    priority = 80
    FILES = {"best": "best.pt", "best_stop_aug": "best_stop_aug.pt"}

    def __init__(self, metric: str = "mAP50_95", stop_aug_epochs: int = 0, strip: bool = True) -> None:
        self.metric = metric
        self.stop_aug_epochs = stop_aug_epochs
        self.strip = strip
        self.best = -1.0
        self.best_stop_aug = -1.0
        self._resumed = False

    def after_val(self, runner: RunnerContract) -> None:
        """Compare the fresh metric with the best so far and save."""
        value = runner.metrics.get(self.metric)
        if value is None:
            runner.logger.warning(
                "BestCheckpointHook: metrics have no '%s'; best.pt not updated", self.metric
            )
            return
        if self._resumed:
            self._catch_up_with_files(runner)
        value = float(value)
        in_window = self.in_last_epochs(runner, self.stop_aug_epochs)
        new_best = value >= self.best
        new_window_best = in_window and value > self.best_stop_aug
        if not (new_best or new_window_best):
            return
        if new_best:
            self.best = value
        if new_window_best:
            self.best_stop_aug = value
        best_state = {**runner.checkpoint_state(), "best_fitness": value}
        if new_best:
            runner.save_checkpoint(runner.work_dir / self.FILES["best"], best_state)
        if new_window_best:
            runner.save_checkpoint(runner.work_dir / self.FILES["best_stop_aug"], best_state)

    def _catch_up_with_files(self, runner: Any) -> None:
        """After a resume: take the ``best_fitness`` of this run's best files when larger."""
        self._resumed = False
        for attr, name in self.FILES.items():
            path = runner.work_dir / name
            if path.is_file():
                stored = load_checkpoint(path).get("best_fitness")
                if isinstance(stored, (int, float)) and stored > getattr(self, attr):
                    setattr(self, attr, float(stored))

    def after_train(self, runner: RunnerContract) -> None:
        """Strip the best checkpoints for deployment."""
        if not (self.strip and runner.is_main):
            return
        for name in ("best.pt", "best_stop_aug.pt"):
            path = runner.work_dir / name
            if path.is_file():
                save_checkpoint(strip_checkpoint(load_checkpoint(path)), path)

    def state_dict(self) -> dict[str, float]:
        """Best values so far (resume keeps comparing against them)."""
        return {"best": self.best, "best_stop_aug": self.best_stop_aug}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Restore the best values (the best files are read too, at the next evaluation)."""
        self.best = float(state["best"])
        self.best_stop_aug = float(state["best_stop_aug"])
        self._resumed = True


def strip_checkpoint(ckpt: dict[str, Any]) -> dict[str, Any]:
    """A deployable copy: EMA weights as ``model`` (fp16), no optimizer/EMA/RNG state."""
    ema = ckpt.get("ema")
    weights = ema["module"] if isinstance(ema, dict) and "module" in ema else ckpt["model"]
    half = {k: v.half() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in weights.items()}
    out = {
        k: v
        for k, v in ckpt.items()
        if k not in ("optimizer", "ema", "scheduler", "scaler", "rng", "train_step")
    }
    out.update(model=half, ema=None, optimizer=None, scheduler=None, scaler=None, stripped=True)
    return out
