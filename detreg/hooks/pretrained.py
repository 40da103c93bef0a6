"""LoadWeightsHook: start training from pretrained weights (``train.pretrained: FILE``).

Setting ``train.pretrained`` adds this hook (see :data:`detreg.config.TRAIN_HOOKS`); the
path reaches it by parameter name through the run context.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import torch

from detreg.engine.checkpoint import (
    LoadReport,
    checkpoint_classes,
    class_predictor_prefixes,
    describe_mismatch,
    describe_model_config,
    load_checkpoint,
    load_pretrained,
    model_state,
)
from detreg.engine.hook import Hook, RunnerContract
from detreg.errors import DetregError
from detreg.registry import HOOKS, Range


def pretrained_state(ckpt: dict[str, Any], prefer_ema: bool = True) -> dict[str, torch.Tensor]:
    """The weights of a checkpoint (EMA preferred) or of a bare state-dict file, as fp32."""
    state = model_state(ckpt, prefer_ema) if "model" in ckpt or "ema" in ckpt else ckpt
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items() if torch.is_tensor(v)}


def classes_differ(
    file_nc: int | None, file_names: list[str] | None, model_nc: int | None, names: list[str] | None
) -> str | None:
    """Why the file's class predictors do not fit the run's classes (None when they do or it
    cannot be told): another count, or the same count with other names or order."""
    if file_nc is not None and model_nc is not None and file_nc != model_nc:
        return f"{file_nc} classes in the file, {model_nc} in this run"
    if file_names and names and list(file_names) != list(names):
        return (
            f"other classes ({', '.join(file_names[:4])}{'...' if len(file_names) > 4 else ''} in the file)"
        )
    return None


@HOOKS.register()
class LoadWeightsHook(Hook):
    """Load ``train.pretrained`` into the model before training (``configure_model``, priority 5).

    Tensors load by name and shape (``torch.load(weights_only=True)``: the file never runs
    code). When the file's classes differ from the run's (another count, or the same count
    with other names), the class predictors are not loaded: they keep their fresh
    initialisation, and everything else loads. A short per-module report says what was
    loaded, what differed in shape, what is missing and what the file has in excess; a file
    of which less than ``min_loaded`` of the model fits (another family or size) is refused
    with a summary of the two models. When the run resumes, nothing is loaded (the
    checkpoint has the weights).

    Args:
        pretrained: a detreg checkpoint (``best.pt``, ``last.pt``) or a bare state dict file
            (from ``train.pretrained``).
        prefer_ema: take the EMA weights when the checkpoint has them.
        strict: fail unless every tensor fits exactly (class predictors included).
        min_loaded: fail when less than this fraction of the model's tensors fits.
    """

    priority = 5

    def __init__(
        self,
        pretrained: str | Path,
        prefer_ema: bool = True,
        strict: bool = False,
        min_loaded: Annotated[float, Range(0, 1)] = 0.5,
    ) -> None:
        self.pretrained = str(pretrained)
        self.prefer_ema = prefer_ema
        self.strict = strict
        self.min_loaded = float(min_loaded)
        self.report: LoadReport | None = None

    def configure_model(self, runner: RunnerContract) -> None:
        """Load and report."""
        if runner.resume_from is not None:
            runner.logger.info(
                "pretrained %s: not loaded (resuming: the checkpoint holds the weights)", self.pretrained
            )
            return
        model = runner.unwrapped_model
        ckpt = load_checkpoint(self.pretrained)
        state = pretrained_state(ckpt, self.prefer_ema)
        predictors = class_predictor_prefixes(model)
        file_nc, file_names = checkpoint_classes(ckpt, state, predictors[0] if predictors else None)
        model_nc = getattr(model, "num_classes", None)
        why = classes_differ(file_nc, file_names, model_nc, runner.context.get("class_names"))
        if self.strict:
            problem = describe_mismatch(model.state_dict(), state)
            if problem is not None or why is not None:
                raise DetregError(
                    f"{self.pretrained}: the weights do not fit the model (strict: true): {problem or why}"
                )
        report = load_pretrained(model, state, predictors if why else ())
        self.report = report
        if report.fraction_loaded < self.min_loaded:
            raise DetregError(self._foreign(runner, ckpt, report))
        if report.complete:
            runner.logger.info("pretrained %s: loaded all %d tensors", self.pretrained, len(report.loaded))
            return
        head = f"pretrained {self.pretrained}: loaded {len(report.loaded)} of {report.model_total} tensors"
        if why:
            head += f"; class predictors re-initialised ({why})"
        lines = [head, *report.table()]
        others = report.shape_mismatched or report.missing or report.unexpected
        if others:  # beyond the expected new class predictors: a partial load is never quiet
            mismatch = describe_mismatch(
                {k: v for k, v in model.state_dict().items() if k not in report.reinitialised}, state
            )
            runner.logger.warning("%s\n  %s", "\n".join(lines), mismatch)
        else:
            runner.logger.info("%s", "\n".join(lines))

    def _foreign(self, runner: RunnerContract, ckpt: dict[str, Any], report: LoadReport) -> str:
        """The one-paragraph refusal for weights of another model family or size."""
        config = ckpt.get("config") if isinstance(ckpt.get("config"), dict) else {}
        theirs = describe_model_config(config.get("model"))
        ours = describe_model_config(runner.cfg.get("model"))
        models = f" (file: {theirs}; this config: {ours})" if theirs and ours and theirs != ours else ""
        example = ""
        if report.shape_mismatched:
            k = report.shape_mismatched[0]
            f, m = report.shapes[k]
            example = f"; e.g. {k} is {list(f)} in the file, {list(m)} in the model"
        return (
            f"{self.pretrained}: these weights are for another model{models}: only {len(report.loaded)} "
            f"of {report.model_total} tensors fit ({len(report.shape_mismatched)} differ in shape, "
            f"{len(report.missing)} missing, {len(report.unexpected)} unexpected){example}; use the config "
            f"the weights were trained with, or set hooks.pretrained.min_loaded=0 to load what fits anyway"
        )
