"""StopAugHook: switch mosaic/mixup off for the last N epochs (YOLOv6's stop-aug).

N comes from ``train.stop_aug_epochs`` through the run context (already scaled to the run
by :func:`detreg.optim.recipe.stop_aug_epochs`), the same value the best-checkpoint hook
receives.
"""

from __future__ import annotations

from collections.abc import Sequence

from detreg.engine.hook import Hook, RunnerContract
from detreg.registry import HOOKS


@HOOKS.register()
class StopAugHook(Hook):
    """Disable the named transforms whenever ``epoch >= max_epochs - stop_aug_epochs``.

    Level-triggered (checked before every epoch), so a run resumed inside the window
    trains without them too.

    Args:
        stop_aug_epochs: size of the window at the end of training. Set it as
            ``train.stop_aug_epochs`` (YOLOv6: 15), which the run context scales to the run
            (at most a tenth of the epochs); a value given here is taken as it is.
        transforms: registered transform types to switch off.
    """

    priority = 40

    def __init__(self, stop_aug_epochs: int = 15, transforms: Sequence[str] = ("Mosaic", "MixUp")) -> None:
        self.stop_aug_epochs = stop_aug_epochs
        self.transforms = tuple(transforms)
        self.applied = False

    def before_train(self, runner: RunnerContract) -> None:
        """Log the window chosen for this run."""
        runner.logger.info(
            "recipe: %s off for the last %d of %d epochs",
            "/".join(self.transforms),
            self.stop_aug_epochs,
            runner.max_epochs,
        )

    def before_epoch(self, runner: RunnerContract) -> None:
        """Switch the transforms off once the window is reached."""
        if self.applied or not self.in_last_epochs(runner, self.stop_aug_epochs):
            return
        runner.train_loader.disable_transforms(self.transforms)
        self.applied = True
        runner.logger.info(
            "epoch %d: %s off for the last %d epochs",
            runner.epoch + 1,
            "/".join(self.transforms),
            self.stop_aug_epochs,
        )
