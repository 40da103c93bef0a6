"""``TensorBoardHook``: the storage's scalars and pictures as TensorBoard events."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from detreg.engine.hook import Hook, RunnerContract
from detreg.hooks.guard import OutputGuard
from detreg.registry import HOOKS


@HOOKS.register()
class TensorBoardHook(Hook):
    """TensorBoard events in ``work_dir/tb`` (main process), global step = iterations done.

    Everything comes from ``runner.storage``: ``train/<name>`` (epoch means of every step
    scalar, hook scalars included), ``train_step/<name>`` (mean of the last ``interval``
    steps), ``lr/pg<k>``, ``train/epoch_time``, ``val/<metric>`` and the pictures other
    hooks offer (``ImagesHook``: ``train/batch``, ``val/predictions``). A resumed run
    purges the events logged after its checkpoint. A failure is one warning; training
    goes on without TensorBoard.

    Args:
        interval: write ``train_step/*`` every this many steps (0: never).
    """

    priority = 91

    def __init__(self, interval: int = 50) -> None:
        self.interval = int(interval)
        self._writer: Any = None
        self._guard = OutputGuard("TensorBoardHook")

    def before_epoch(self, runner: RunnerContract) -> None:
        """Open the writer (here: after a resume set ``runner.iter``)."""
        self._tb(runner)

    def after_step(self, runner: RunnerContract) -> None:
        """Windowed step scalars every ``interval`` steps; offered pictures."""
        writer = self._tb(runner)
        if writer is None:
            return
        storage = runner.storage
        step = runner.iter + 1
        if self.interval > 0 and step % self.interval == 0:

            def scalars() -> None:
                for key, value in sorted(storage.window_means(self.interval).items()):
                    writer.add_scalar(f"train_step/{key}", value, step)
                for k, lr in enumerate(storage.lrs):
                    writer.add_scalar(f"lr/pg{k}", lr, step)

            self._guard(runner, "tensorboard", scalars)
        self._images(runner, writer)

    def after_val(self, runner: RunnerContract) -> None:
        """Validation metrics at the current iteration; offered pictures."""
        writer = self._tb(runner)
        if writer is None:
            return
        metrics = runner.storage.val_metrics or {}

        def scalars() -> None:
            for key, value in metrics.items():
                if math.isfinite(value):
                    writer.add_scalar(f"val/{key}", value, runner.iter)

        self._guard(runner, "tensorboard", scalars)
        self._images(runner, writer)

    def after_epoch(self, runner: RunnerContract) -> None:
        """Epoch means, learning rates and epoch time."""
        writer = self._tb(runner)
        if writer is None:
            return
        storage = runner.storage
        record = storage.record()

        def scalars() -> None:
            for key, value in storage.means().items():
                writer.add_scalar(f"train/{key}", value, runner.iter)
            for k, lr in enumerate(record["lr"]):
                writer.add_scalar(f"lr/pg{k}", lr, runner.iter)
            writer.add_scalar("train/epoch_time", record["time"], runner.iter)
            writer.flush()

        self._guard(runner, "tensorboard", scalars)
        self._images(runner, writer)

    def after_run(self, runner: RunnerContract) -> None:
        """Close the writer."""
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._writer = None

    def _images(self, runner: RunnerContract, writer: Any) -> None:
        def add(images: list[tuple[str, Any, int]]) -> None:
            for tag, image, step in images:
                writer.add_image(tag, image, step, dataformats="HWC")

        images = runner.storage.pop_images()
        if images:
            self._guard(runner, "tensorboard", lambda: add(images))

    def _tb(self, runner: RunnerContract) -> Any:
        """The SummaryWriter, created on first use (purging events after ``runner.iter``)."""
        if not runner.is_main or "tensorboard" in self._guard.disabled:
            return None
        if self._writer is None:

            def make() -> Any:
                from torch.utils.tensorboard import SummaryWriter

                # Steps are iterations done: a resumed (or restarted) run hides the events
                # an earlier run logged after this point.
                return SummaryWriter(
                    log_dir=str(Path(runner.work_dir) / "tb"), purge_step=int(runner.iter) + 1
                )

            self._writer = self._guard(runner, "tensorboard", make)
        return self._writer
