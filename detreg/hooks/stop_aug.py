"""StopAugHook: switch mosaic/mixup off for the last N epochs (YOLOv6's stop-aug)."""

from __future__ import annotations

from collections.abc import Sequence

from detreg.engine.hook import Hook, RunnerContract
from detreg.registry import HOOKS


@HOOKS.register()
class StopAugHook(Hook):
    """Disable the named transforms whenever ``epoch >= max_epochs - epochs``.

    Level-triggered (checked before every epoch), so a run resumed inside the window
    trains without them too.

    Args:
        epochs: size of the window at the end of training (YOLOv6: 15).
        transforms: registered transform types to switch off.
    """

    priority = 40

    def __init__(self, epochs: int = 15, transforms: Sequence[str] = ("Mosaic", "MixUp")) -> None:
        self.epochs = epochs
        self.transforms = tuple(transforms)
        self.applied = False

    def before_epoch(self, runner: RunnerContract) -> None:
        """Switch the transforms off once the window is reached."""
        if self.applied or not self.in_last_epochs(runner, self.epochs):
            return
        runner.train_loader.disable_transforms(self.transforms)
        self.applied = True
        runner.logger.info(
            "epoch %d: %s off for the last %d epochs",
            runner.epoch + 1,
            "/".join(self.transforms),
            self.epochs,
        )
