"""How YOLOv6's long-run recipe scales down to the short runs people make.

YOLOv6's numbers (warmup of ``max(3 epochs, 1000 iterations)``, mosaic off for the last 15
epochs) are made for 300-epoch COCO runs, where they are 1% and 5% of the run. Taken as
they are, a 30-epoch run of 50 iterations per epoch would warm up for two thirds of its
steps. Here each is capped at a fraction of the run, so long runs keep YOLOv6's values
exactly and short runs get the same proportions:

- warmup iterations ``min(max(round(warmup_epochs * ipe), min_warmup_iters),
  round(MAX_WARMUP_FRACTION * epochs * ipe))``;
- stop-aug epochs ``min(stop_aug_epochs, round(MAX_STOP_AUG_FRACTION * epochs))``.

The hooks that need these values (warmup, stop-aug, best checkpoint) all call these
functions with the settings of the ``train:`` section, so they cannot disagree.
"""

from __future__ import annotations

#: The ``train:`` keys of the recipe, offered to components by parameter name through the
#: run context (``WarmupHook.warmup_epochs``, ``StopAugHook``/``BestCheckpointHook``
#: ``.stop_aug_epochs``, ``WarmupHook``/optimizers ``.nominal_batch_size``).
RECIPE_KEYS: tuple[str, ...] = ("warmup_epochs", "stop_aug_epochs", "nominal_batch_size")

#: Warmup never takes more than this fraction of the run's iterations.
MAX_WARMUP_FRACTION = 0.1
#: The stop-aug window never takes more than this fraction of the epochs.
MAX_STOP_AUG_FRACTION = 0.1


def warmup_iters(
    warmup_epochs: float,
    iters_per_epoch: int,
    min_warmup_iters: int = 1000,
    epochs: int | None = None,
    max_fraction: float = MAX_WARMUP_FRACTION,
) -> int:
    """YOLOv6's ``max(round(warmup_epochs * ipe), min_warmup_iters)``, capped at
    ``round(max_fraction * epochs * ipe)`` when ``epochs`` is given (0 stays 0)."""
    w = max(round(warmup_epochs * iters_per_epoch), min_warmup_iters)
    if epochs is not None:
        w = min(w, round(max_fraction * epochs * iters_per_epoch))
    return max(w, 0)


def stop_aug_epochs(epochs_wanted: int, epochs: int, max_fraction: float = MAX_STOP_AUG_FRACTION) -> int:
    """The stop-aug window: ``min(epochs_wanted, round(max_fraction * epochs))``, at least 0."""
    return max(0, min(int(epochs_wanted), round(max_fraction * epochs)))
