"""``WarmupHook``: YOLOv6's linear warmup of lr, momentum and gradient accumulation.

``warmup_epochs`` and ``nominal_batch_size`` are recipe settings of the ``train:`` section
(one value for every component, offered through the run context); the warmup length is
capped at a fraction of the run (:mod:`detreg.optim.recipe`).
"""

from __future__ import annotations

from typing import Annotated, Any

from detreg.engine.hook import Hook, RunnerContract
from detreg.optim import recipe
from detreg.optim.scaling import nominal_accumulate
from detreg.registry import HOOKS, Range


def interp(t: float, end: float, y0: float, y1: float) -> float:
    """Linear interpolation from ``y0`` at 0 to ``y1`` at ``end`` (clamped to the ends)."""
    if end <= 0:
        return y1
    frac = min(max(t / end, 0.0), 1.0)
    return y0 + (y1 - y0) * frac


warmup_iters = recipe.warmup_iters


@HOOKS.register()
class WarmupHook(Hook):
    """YOLOv6 warmup, applied in ``before_step`` for every global step ``t <= W``.

    With ``W = min(max(round(warmup_epochs * ipe), min_warmup_iters), round(max_fraction *
    epochs * ipe))`` (``ipe = len(train_loader)``, ``epochs = runner.max_epochs``; YOLOv6's
    value for long runs, at most a tenth of a short one, see
    :func:`detreg.optim.recipe.warmup_iters`):

    - lr of group k: ``interp(t, [0, W], [warmup_bias_lr if bias group else 0, target_k])``,
      ``target_k = initial_lr_k * lf(epoch)``, read from the scheduler (``lrs_at`` of
      detreg's schedules at the runner's epoch, or iteration when ``by_epoch`` is false;
      ``get_last_lr()`` of another scheduler; ``initial_lr`` without one). The bias group
      is the one named ``"bias"`` (detreg's optimizer builders tag their groups).
    - momentum (SGD ``momentum``, Adam ``betas[0]``):
      ``interp(t, [0, W], [warmup_momentum, initial_momentum])``.
    - ``runner.accumulate = max(1, round(interp(t, [0, W], [1, nominal_batch_size / bs])))``
      while warming up, ``max(1, round(nominal_batch_size / bs))`` after (``bs`` =
      ``runner.cfg["train"]["batch_size"]``, the total batch). The train step reads
      ``runner.accumulate`` each step. The hook leaves ``runner.accumulate`` alone when
      ``nominal_batch_size`` is null or the config sets ``train.accumulate`` explicitly.

    After warmup the hook only sets ``accumulate``: lr belongs to the scheduler. Everything
    is computed from ``runner.iter``/``runner.epoch``, so the hook has no state and a resumed
    run lands on the same values. ``warmup_epochs: 0`` with ``min_warmup_iters: 0`` disables
    the warmup. ``before_train`` logs the chosen length and accumulation.

    Args:
        warmup_epochs: ``train.warmup_epochs`` (YOLOv6: 3).
        min_warmup_iters: floor of the warmup in iterations (YOLOv6: 1000), under the cap.
        warmup_bias_lr: the bias group's starting lr.
        warmup_momentum: the starting momentum.
        nominal_batch_size: ``train.nominal_batch_size`` (``auto``: 64 or, in a short run,
            the batch; YOLOv6: 64; null: leave ``runner.accumulate`` alone).
        max_fraction: the warmup never takes more than this fraction of the run's
            iterations (1.0: YOLOv6's uncapped length).
    """

    priority = 20

    def __init__(
        self,
        warmup_epochs: float = 3.0,
        min_warmup_iters: int = 1000,
        warmup_bias_lr: float = 0.1,
        warmup_momentum: float = 0.8,
        nominal_batch_size: Annotated[int, Range(min=1)] | recipe.Auto | None = "auto",
        max_fraction: float = recipe.MAX_WARMUP_FRACTION,
    ) -> None:
        self.warmup_epochs = warmup_epochs
        self.min_warmup_iters = min_warmup_iters
        self.warmup_bias_lr = warmup_bias_lr
        self.warmup_momentum = warmup_momentum
        self.nominal_batch_size = nominal_batch_size
        self.max_fraction = max_fraction

    def before_train(self, runner: RunnerContract) -> None:
        """Remember each group's final lr/momentum (kept if the optimizer already has them);
        log the warmup length and the accumulation chosen for this run."""
        for group in runner.optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group.setdefault("initial_momentum", _momentum(group))
        ipe = len(runner.train_loader)
        end = self._end(runner)
        train = runner.cfg["train"]
        nominal = self._nominal(runner)
        if nominal is None or train.get("accumulate") is not None:
            acc = "accumulate left to the train step"
        else:
            bs = train["batch_size"]
            n = min(nominal_accumulate(bs, nominal), ipe)
            acc = f"then accumulate {n} batches of {bs} (nominal batch {nominal})"
        scale_lr = (runner.cfg.get("optimizer") or {}).get("scale_lr", "auto")
        form = recipe.describe(self.nominal_batch_size, scale_lr, runner.max_epochs, ipe)
        if form:
            runner.logger.info("recipe: %s", form)
        runner.logger.info(
            "recipe: warmup %d of %d iterations (%.2f epochs; warmup_epochs %g, min %d, at most %g%% "
            "of the run), %s",
            end,
            runner.max_epochs * ipe,
            end / max(ipe, 1),
            self.warmup_epochs,
            self.min_warmup_iters,
            100 * self.max_fraction,
            acc,
        )

    def _nominal(self, runner: RunnerContract) -> int | None:
        return recipe.nominal_batch_size(
            self.nominal_batch_size,
            runner.cfg["train"]["batch_size"],
            runner.max_epochs,
            len(runner.train_loader),
        )

    def _end(self, runner: RunnerContract) -> int:
        return warmup_iters(
            self.warmup_epochs,
            len(runner.train_loader),
            self.min_warmup_iters,
            runner.max_epochs,
            self.max_fraction,
        )

    def before_step(self, runner: RunnerContract) -> None:
        """Set lr, momentum and ``runner.accumulate`` for global step ``runner.iter``."""
        t = runner.iter
        end = self._end(runner)
        warming = end > 0 and t <= end
        if warming:
            self._apply_lr_momentum(runner, t, end)
        train = runner.cfg["train"]
        nominal = self._nominal(runner)
        if nominal is not None and train.get("accumulate") is None:
            bs = train["batch_size"]
            if warming:
                acc = max(1, round(interp(t, end, 1.0, nominal / bs)))
                runner.accumulate = min(acc, len(runner.train_loader))
            else:
                # never more batches than an epoch has: partial accumulations are dropped at
                # each epoch start, so a larger value would never step the optimizer
                runner.accumulate = min(nominal_accumulate(bs, nominal), len(runner.train_loader))

    def _apply_lr_momentum(self, runner: RunnerContract, t: int, end: int) -> None:
        groups = runner.optimizer.param_groups
        targets = _target_lrs(runner)
        for group, target in zip(groups, targets):
            start = self.warmup_bias_lr if group.get("name") == "bias" else 0.0
            group["lr"] = interp(t, end, start, target)
            final = group.setdefault("initial_momentum", _momentum(group))
            if final is not None:
                _set_momentum(group, interp(t, end, self.warmup_momentum, final))


def _target_lrs(runner: RunnerContract) -> list[float]:
    """The lr each group should reach at the end of warmup, at the runner's position."""
    sched = runner.scheduler
    if sched is not None and hasattr(sched, "lrs_at"):
        position = runner.epoch if getattr(sched, "by_epoch", True) else runner.iter
        return [float(x) for x in sched.lrs_at(position)]
    if sched is not None and hasattr(sched, "get_last_lr"):
        return [float(x) for x in sched.get_last_lr()]
    return [float(g["initial_lr"]) for g in runner.optimizer.param_groups]


def _momentum(group: dict[str, Any]) -> float | None:
    if "momentum" in group:
        return group["momentum"]
    if "betas" in group:
        return group["betas"][0]
    return None


def _set_momentum(group: dict[str, Any], value: float) -> None:
    if "momentum" in group:
        group["momentum"] = value
    elif "betas" in group:
        group["betas"] = (value, group["betas"][1])
