"""``QATHook``: quantization-aware fine-tuning with the normal runner, int8 file at the end."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from detreg.engine.hook import Hook, RunnerContract
from detreg.errors import DetregError
from detreg.registry import HOOKS


@HOOKS.register()
class QATHook(Hook):
    """Fine-tune an int8 model with fake quantization (PT2E ``prepare_qat_pt2e``, torchao).

    ``configure_model`` (priority 10: before the optimizer, EMA and DDP exist) loads
    ``weights`` (required: a float checkpoint, EMA preferred, or an int8 file from
    ``detreg quantize``: its float weights), fuses the model (RepVGG
    branches, Conv+BN), exports it with dynamic shapes, inserts fake-quantize modules
    (``skip``: fnmatch patterns of layers kept float) and runs ``init_batches`` batches of
    training images (validation preprocessing) so every range starts from data. The
    runner then trains the :class:`~detreg.quant.model.QuantDetector` like any model:
    EMA, evaluation, checkpoints (plain state dicts) and resume work unchanged, because
    a resumed run rebuilds the same graph here before the checkpoint is loaded.

    ``after_train`` converts the evaluation model (the EMA when there is one) to int8 and
    writes ``<work_dir>/<out>`` (an int8 file: ``detreg-eval``/``-infer``/``-export --int8``
    take it as ``--weights``).
    """

    priority = 10

    def __init__(
        self,
        weights: str | None = None,
        skip: Sequence[str] = (),
        init_batches: int = 1,
        out: str = "qat_int8.pt",
    ) -> None:
        if init_batches < 1:
            raise DetregError(f"QATHook: init_batches must be at least 1, got {init_batches}")
        self.weights = weights
        self.skip = list(skip)
        self.init_batches = int(init_batches)
        self.out = out
        self.skipped: list[str] = []
        self.img_size: list[int] = []

    # ------------------------------------------------------------------ model surgery
    def configure_model(self, runner: RunnerContract) -> None:
        """Load, fuse, export, prepare for QAT, initialise the ranges; replace ``runner.model``."""
        from detreg.quant.artifact import quantizable
        from detreg.quant.backend import require_torchao
        from detreg.quant.calibrate import calibrate, calibration_loader

        require_torchao()
        if not self.weights:
            raise DetregError(
                "QATHook.weights: QAT fine-tunes a trained model; set the float checkpoint to start "
                "from (e.g. hooks.qat.weights=runs/train/exp/best.pt)"
            )
        model = runner.model
        self._load_float(model, runner)
        size = runner.cfg["train"]["img_size"]
        self.img_size = [int(size), int(size)] if isinstance(size, int) else [int(s) for s in size]
        model = model.cpu()
        qmodel, self.skipped = quantizable(model, self.img_size, self.skip, qat=True)
        loader = calibration_loader(
            runner.cfg, list(runner.context.get("class_names") or []), int(runner.cfg["train"]["batch_size"])
        )
        qmodel.train()
        calibrate(qmodel, loader, self.init_batches, train_mode=True)
        runner.model = qmodel.to(runner.device)
        runner.logger.info(
            "QAT: int8 fake quantization on %s; float layers: %s",
            type(qmodel.net).__name__,
            ", ".join(self.skipped) or "none",
        )

    def _load_float(self, model: torch.nn.Module, runner: RunnerContract) -> None:
        """``weights`` into the float model (an int8 file: its float weights, after fusing)."""
        from detreg.engine.checkpoint import load_checkpoint, load_model_state, model_state
        from detreg.quant.artifact import is_quantized

        ckpt = load_checkpoint(self.weights)
        if is_quantized(ckpt):
            model.eval().fuse()
            own = model.state_dict()
            state = {k: v for k, v in ckpt["quantized"]["net"].items() if k in own}
            load_model_state(
                model, {**{k: v for k, v in own.items() if k not in state}, **state}, self.weights
            )
            missing = sorted(k for k in own if k not in state and own[k].is_floating_point())
            if missing:
                raise DetregError(
                    f"QATHook.weights: {self.weights} lacks {len(missing)} weights of this model, "
                    f"e.g. {missing[0]}"
                )
        else:
            state = model_state(ckpt)
            load_model_state(
                model, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, self.weights
            )
        runner.logger.info("QAT: starting from %s", self.weights)

    # ------------------------------------------------------------------ the int8 file
    def after_train(self, runner: RunnerContract) -> None:
        """Convert the evaluation model (EMA preferred) and write the int8 file."""
        import copy

        from detreg.engine.checkpoint import save_checkpoint
        from detreg.quant.artifact import int8_checkpoint

        if not runner.is_main:
            return
        model = copy.deepcopy(runner.eval_model).cpu()
        names = list(runner.context.get("class_names") or [])
        _, ckpt = int8_checkpoint(model, "qat", self.skipped, self.img_size, runner.cfg, names)
        path = save_checkpoint(ckpt, Path(runner.work_dir) / self.out)
        runner.logger.info("QAT: int8 model written to %s", path)
