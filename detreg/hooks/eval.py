"""EvalHook: periodic COCO evaluation of the EMA model (YOLOv6's schedule)."""

from __future__ import annotations

from typing import Annotated, Any

from detreg.engine import dist
from detreg.engine.hook import Hook, RunnerContract
from detreg.registry import EVALUATORS, HOOKS


def should_evaluate(
    epoch: int, max_epochs: int, interval: int, heavy_eval_range: int, final_only: bool
) -> bool:
    """YOLOv6's gate for 0-based ``epoch``: the last epoch always; otherwise every
    ``interval`` epochs, or every ``min(3, interval)`` inside the last ``heavy_eval_range``.
    """
    remaining = max_epochs - 1 - epoch
    if remaining == 0:
        return True
    if final_only:
        return False
    every = interval if remaining >= heavy_eval_range else min(3, interval)
    return (epoch + 1) % max(every, 1) == 0


@HOOKS.register()
class EvalHook(Hook):
    """Evaluate ``runner.eval_model`` (EMA when present) on ``runner.val_loader``.

    Fills ``runner.metrics`` (``mAP50_95``, ``mAP50``, ``per_class``...) through
    ``runner.validate`` so ``before_val``/``after_val`` fire around it, logs the per-class
    table, and writes PR-curve and confusion-matrix images to ``work_dir/plots`` after the
    final evaluation (every evaluation with ``plots: always``).

    Args:
        interval, heavy_eval_range, final_only: the schedule (see :func:`should_evaluate`).
        conf_thres, iou_thres, max_det: post-processing for evaluation. mAP is measured at
            conf 0.001 as COCO tools, Ultralytics and the papers do (YOLOv6 trains with 0.03,
            which cuts the low-score tail of the PR curve and under-reports AP).
        evaluator: an ``EVALUATORS`` config.
        plots: 'final', 'always' or 'never'.
    """

    priority = 70

    def __init__(
        self,
        interval: int = 20,
        heavy_eval_range: int = 50,
        final_only: bool = False,
        conf_thres: float = 0.001,
        iou_thres: float = 0.65,
        max_det: int = 300,
        evaluator: Annotated[Any, EVALUATORS] = None,
        plots: str = "final",
    ) -> None:
        if plots not in ("final", "always", "never"):
            raise ValueError(f"plots must be 'final', 'always' or 'never', got {plots!r}")
        self.interval = interval
        self.heavy_eval_range = heavy_eval_range
        self.final_only = final_only
        self.conf_thres = conf_thres
        self.iou_thres = iou_thres
        self.max_det = max_det
        self.evaluator = evaluator if evaluator is not None else EVALUATORS.build({"type": "COCOEvaluator"})
        self.plots = plots
        self._ready = False

    def after_epoch(self, runner: RunnerContract) -> None:
        """Evaluate when the schedule says so (main process; the others wait)."""
        if not should_evaluate(
            runner.epoch, runner.max_epochs, self.interval, self.heavy_eval_range, self.final_only
        ):
            return
        if runner.is_main and runner.val_loader is not None:
            self.evaluate(runner)
        elif runner.is_main:
            runner.logger.warning("EvalHook: no data.val in the config; nothing to evaluate")
        dist.barrier()

    def evaluate(self, runner: RunnerContract) -> dict[str, Any]:
        """One evaluation pass through ``runner.validate``."""
        from detreg.evaluation.loop import run_evaluation
        from detreg.evaluation.table import format_table

        if not self._ready:
            self.evaluator.reset(runner.val_loader.dataset)
            self._ready = True
        else:
            self.evaluator.reset()
        metrics = runner.validate(
            lambda: run_evaluation(
                runner.eval_model,
                runner.val_loader,
                self.evaluator,
                runner.device,
                conf_thres=self.conf_thres,
                iou_thres=self.iou_thres,
                max_det=self.max_det,
                progress=False,
            )
        )
        runner.logger.info(
            "epoch %d/%d  mAP50-95 %.4f  mAP50 %.4f\n%s",
            runner.epoch + 1,
            runner.max_epochs,
            metrics.get("mAP50_95", 0.0),
            metrics.get("mAP50", 0.0),
            format_table(metrics),
        )
        last = self.is_last_epoch(runner)
        if self.plots == "always" or (self.plots == "final" and last):
            try:
                self.evaluator.save_plots(runner.work_dir / "plots")
            except Exception as exc:  # noqa: BLE001 - a plot must never end a training run
                runner.logger.warning("EvalHook: could not write plots: %s", exc)
        return metrics
