"""``SemiSupervisedHook``: what every semi-supervised hook shares (not registered itself).

The unlabeled stream, the EMA teacher, the weight ramp and the student's second forward.
Subclasses (:mod:`detreg.hooks.dense_teacher`, :mod:`detreg.hooks.arsl`,
:mod:`detreg.hooks.pseudo_box`) only say how the teacher's predictions on the weak view
become a loss on the student's predictions on the strong view (:meth:`unsup_loss`).

One optimizer step, one backward (see ``docs/semi_supervised.md``): in ``after_forward``
the hook runs the student (``runner.model``, the DDP wrapper when distributed) a second
time, on the strong views, inside the step's autocast region, and adds the weighted
unsupervised loss to the step record. The train step then backpropagates supervised +
unsupervised loss once, so AMP, gradient accumulation and the non-finite checks are the
step's as always, and under DDP every parameter gets its gradient in the one backward.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from detreg.data.unlabeled_stream import UnlabeledStream
from detreg.engine.checkpoint import load_weights_reported
from detreg.engine.hook import Hook, RunnerContract
from detreg.errors import DetregError
from detreg.losses.semi import RAMPS, ramp_weight
from detreg.optim.ema import ModelEMA


def bn_running_stats(model: torch.nn.Module) -> list[Tensor]:
    """The running mean, variance and batch count of every BatchNorm of ``model`` that tracks them."""
    out: list[Tensor] = []
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            out += [t for t in (m.running_mean, m.running_var, m.num_batches_tracked) if t is not None]
    return out


#: ``data.unlabeled`` without ``type`` builds this dataset.
DEFAULT_UNLABELED_TYPE = "UnlabeledDataset"


class SemiSupervisedHook(Hook):
    """Base of the semi-supervised hooks: reads ``data.unlabeled``, keeps the teacher.

    Args:
        unlabeled_ratio: unlabeled images per labeled image in a step (per rank:
            ``round(ratio * batch)``, at least 1).
        ema_decay: the teacher's EMA decay (constant: the mean-teacher update).
        ema_start: the iteration at which the teacher becomes an exact copy of the student;
            from then on it is EMA-updated after every optimizer step, and evaluation and
            ``best.pt`` use it. Ignored for the copy when ``teacher_weights`` is given.
        semi_start: the iteration from which the unsupervised loss is used (supervised
            only before; the burn-in). Must be ``>= ema_start`` without ``teacher_weights``.
        unsup_weight: the unsupervised loss weight after the ramp.
        ramp, ramp_iters: the ramp from ``semi_start`` (``linear``, ``exp``, ``step``; see
            :func:`~detreg.losses.semi.ramp_weight`); ``ramp_iters`` None = ``semi_start``.
        teacher_weights, student_weights: checkpoints loaded (shape-matched, reported) into
            the teacher and the student (PaddleDetection's ``load_semi_weights``). With
            ``teacher_weights`` the teacher is used from iteration 0.
    """

    priority = 35  # after EMAHook (30), so before_train can see that it also set an eval model
    reads_unlabeled = True  # config validation: ``data.unlabeled`` needs such a hook, and back
    loss_name = "unsup"

    def __init__(
        self,
        unlabeled_ratio: float = 1.0,
        ema_decay: float = 0.9996,
        ema_start: int = 0,
        semi_start: int = 0,
        unsup_weight: float = 1.0,
        ramp: str = "linear",
        ramp_iters: int | None = None,
        teacher_weights: str | None = None,
        student_weights: str | None = None,
    ) -> None:
        if ramp not in RAMPS:
            raise ValueError(f"ramp must be one of {RAMPS}, got {ramp!r}")
        if unlabeled_ratio <= 0:
            raise ValueError(f"unlabeled_ratio must be > 0, got {unlabeled_ratio}")
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
        if teacher_weights is None and semi_start < ema_start:
            raise ValueError(
                f"semi_start ({semi_start}) is before ema_start ({ema_start}): the teacher would be "
                "untrained; raise semi_start or give teacher_weights"
            )
        self.unlabeled_ratio = unlabeled_ratio
        self.ema_decay = ema_decay
        self.ema_start = int(ema_start)
        self.semi_start = int(semi_start)
        self.unsup_weight = unsup_weight
        self.ramp = ramp
        self.ramp_iters = int(self.semi_start if ramp_iters is None else ramp_iters)
        self.teacher_weights = teacher_weights
        self.student_weights = student_weights
        self.teacher: ModelEMA | None = None
        self.teacher_ready = False
        self.stream: UnlabeledStream | None = None
        self._batch: dict[str, Any] | None = None
        self.skipped = 0  # unsupervised losses left out as not finite in this process (for the warning)

    # ------------------------------------------------------------------ building
    def configure_model(self, runner: RunnerContract) -> None:
        """Load ``student_weights`` into the model."""
        if self.student_weights:
            load_weights_reported(
                runner.unwrapped_model, self.student_weights, "student_weights", runner.logger
            )

    def before_train(self, runner: RunnerContract) -> None:
        """Build the unlabeled stream and the teacher."""
        from detreg.registry import DATASETS

        if runner.eval_model is not runner.unwrapped_model:
            raise DetregError(
                f"{type(self).__name__}: another hook (hooks.ema?) already sets the evaluation model; "
                "the semi-supervised teacher is the EMA model: remove that hook"
            )
        ucfg = (runner.cfg.get("data") or {}).get("unlabeled")
        if ucfg is None:
            raise DetregError(f"{type(self).__name__} needs data.unlabeled (unlabeled images to train on)")
        ucfg = {"type": DEFAULT_UNLABELED_TYPE, **ucfg}
        dataset = DATASETS.build(ucfg, "data.unlabeled", runner.context)
        batch = max(1, round(runner.train_loader.batch_size * self.unlabeled_ratio))
        train = runner.cfg["train"]
        self.stream = UnlabeledStream(
            dataset,
            batch,
            workers=int(train.get("workers", 0)),
            seed=int(train.get("seed", 0)),
            rank=runner.rank,
            world_size=runner.world_size,
        )
        runner.logger.info("unlabeled: %d images, %d per step per process", len(dataset), batch)
        self.teacher = ModelEMA(runner.unwrapped_model, decay=self.ema_decay, tau=0.0)
        if self.teacher_weights:
            load_weights_reported(self.teacher.module, self.teacher_weights, "teacher_weights", runner.logger)
            self._use_teacher(runner)

    def _use_teacher(self, runner: RunnerContract) -> None:
        self.teacher_ready = True
        runner.eval_model = self.teacher.module

    # ------------------------------------------------------------------ per step
    def active(self, runner: RunnerContract) -> bool:
        """Whether this step adds the unsupervised loss."""
        return self.teacher_ready and runner.iter >= self.semi_start

    def before_step(self, runner: RunnerContract) -> None:
        """Copy the student into the teacher at ``ema_start``; draw this step's unlabeled batch."""
        if not self.teacher_ready and runner.iter >= self.ema_start:
            self.teacher.module.load_state_dict(runner.unwrapped_model.state_dict())
            self.teacher.updates = 0
            self._use_teacher(runner)
        self._batch = self.stream.next() if self.active(runner) else None

    def after_forward(self, runner: RunnerContract) -> None:
        """Add ``unsup`` = ramped weight * :meth:`unsup_loss` (0 when not active)."""
        record = runner.step_record
        weight = ramp_weight(runner.iter, self.semi_start, self.ramp_iters, self.ramp, self.unsup_weight)
        runner.storage.put_scalar("unsup_w", weight if self._batch is not None else 0.0)
        if self._batch is None:
            record.add_loss(self.loss_name, torch.zeros((), device=record.images.device))
            return
        if record.outputs is None:
            raise DetregError(f"{type(self).__name__} needs a detreg Detector (a model with return_outputs)")
        batch, self._batch = self._batch, None
        if "img_strong" not in batch:
            raise DetregError(
                "data.unlabeled: the dataset gives no strong view; use type UnlabeledDataset with "
                "strong_transforms (ColorJitter, GaussianBlur, RandomGrayscale, RandomErasing)"
            )
        dev = record.images.device
        weak = batch["img"].to(dev, non_blocking=True).float().div_(255.0)
        strong = batch["img_strong"].to(dev, non_blocking=True).float().div_(255.0)
        stats = bn_running_stats(runner.unwrapped_model)
        saved = [t.clone() for t in stats]  # before the strong forward moves them
        loss, parts = self.unsup_loss(runner, weak, strong)
        loss = loss.float()
        finite = bool(torch.isfinite(loss))
        if not finite:
            # Skip the unsupervised term only: the supervised loss of the step still trains
            # (a non-finite total would make the train step drop the whole step), and the
            # strong forward's BatchNorm statistics are undone (through ``.data``: the
            # supervised graph saved these buffers, and a train-mode backward does not read
            # them, so their autograd version must not move).
            torch._foreach_copy_([t.data for t in stats], saved)
            self.skipped += 1
            runner.logger.warning(
                "%s: non-finite unsupervised loss at iter %d, left out of this step (%d so far)",
                type(self).__name__,
                runner.iter,
                self.skipped,
            )
            loss = torch.zeros((), device=dev)
        record.add_loss(self.loss_name, weight * loss)
        runner.storage.put_scalar(f"{self.loss_name}_skipped", 0.0 if finite else 1.0)  # epoch mean: share
        for name, value in parts.items():
            runner.storage.put_scalar(f"{self.loss_name}_{name}", float(value))

    def student_forward(self, runner: RunnerContract, images: Tensor, targets: Tensor | None = None) -> tuple:
        """The student (``runner.model``: through DDP) on ``images``: ``(loss dict, raw outputs)``.

        Without ``targets`` it gets none (the loss it computes is not used)."""
        if targets is None:
            targets = torch.zeros(0, 6, device=images.device)
        return runner.model(images, targets, epoch=runner.epoch, return_outputs=True)

    @torch.no_grad()
    def teacher_outputs(self, images: Tensor) -> dict[str, Any]:
        """The teacher's raw head outputs on ``images`` (eval mode, no gradient)."""
        return self.teacher.module.raw_outputs(images)

    def unsup_loss(
        self, runner: RunnerContract, weak: Tensor, strong: Tensor
    ) -> tuple[Tensor, dict[str, Any]]:
        """The unsupervised loss (with the student's graph) and parts to log."""
        raise NotImplementedError

    def after_optimizer_step(self, runner: RunnerContract) -> None:
        """EMA-update the teacher from the student (once it is in use)."""
        if self.teacher_ready:
            self.teacher.update(runner.unwrapped_model)

    def after_run(self, runner: RunnerContract) -> None:
        """Stop the unlabeled loader's workers."""
        if self.stream is not None:
            self.stream.close()

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Teacher weights and updates, whether it is in use, the unlabeled stream position."""
        return {
            "teacher": self.teacher.state_dict() if self.teacher is not None else None,
            "teacher_ready": self.teacher_ready,
            "stream": self.stream.state_dict() if self.stream is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (``before_train`` built the teacher and stream already)."""
        if self.teacher is not None and state.get("teacher"):
            self.teacher.load_state_dict(state["teacher"])
        self.teacher_ready = bool(state.get("teacher_ready"))
        if self.stream is not None and state.get("stream"):
            self.stream.load_state_dict(state["stream"])

    def on_save_checkpoint(self, runner: RunnerContract, checkpoint: dict[str, Any]) -> None:
        """Once in use, the teacher is the checkpoint's ``ema`` (what eval/export/infer load)."""
        if self.teacher_ready and self.teacher is not None:
            checkpoint["ema"] = self.teacher.state_dict()

    def on_load_checkpoint(self, runner: RunnerContract, checkpoint: dict[str, Any]) -> None:
        """Evaluate the restored teacher when it was in use."""
        if self.teacher_ready:
            runner.eval_model = self.teacher.module
