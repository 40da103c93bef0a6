"""How YOLOv6's long-run recipe scales down to the short runs people make.

YOLOv6's numbers (warmup of ``max(3 epochs, 1000 iterations)``, mosaic off for the last 15
epochs) are made for 300-epoch COCO runs, where they are 1% and 5% of the run. Taken as
they are, a 30-epoch run of 50 iterations per epoch would warm up for two thirds of its
steps. Here each is capped at a fraction of the run, so long runs keep YOLOv6's values
exactly and short runs get the same proportions:

- warmup iterations ``min(max(round(warmup_epochs * ipe), min_warmup_iters),
  round(MAX_WARMUP_FRACTION * epochs * ipe))``;
- stop-aug epochs ``min(stop_aug_epochs, round(MAX_STOP_AUG_FRACTION * epochs))``;
- ``nominal_batch_size: auto`` and ``optimizer.scale_lr: auto`` (the defaults): in a run of
  at least :data:`SHORT_RUN_ITERS` iterations, YOLOv6's accumulation to 64 images per step
  and its lr scaling ``lr0 * bs / (world_size * bs_per_gpu)``; in a shorter run a small
  batch counts as a full step: no accumulation and no scaling down of ``lr0`` (a batch
  above ``bs_per_gpu`` still scales it up). Accumulating 4 batches of 16 at half the lr
  leaves a 30-epoch, 1500-iteration run with 375 small steps, and it ends far from
  converged (the quality benchmark, ``docs/quality.md``); long runs have steps to spare.

The hooks that need these values (warmup, stop-aug, best checkpoint) all call these
functions with the settings of the ``train:`` section, so they cannot disagree.
"""

from __future__ import annotations

from typing import Literal

from detreg.optim.scaling import NOMINAL_BATCH_SIZE, scaled_lr

#: The ``train:`` keys of the recipe, offered to components by parameter name through the
#: run context (``WarmupHook.warmup_epochs``, ``StopAugHook``/``BestCheckpointHook``
#: ``.stop_aug_epochs``, ``WarmupHook``/optimizers ``.nominal_batch_size``).
RECIPE_KEYS: tuple[str, ...] = ("warmup_epochs", "stop_aug_epochs", "nominal_batch_size")

#: Runs with fewer iterations than this are short: see ``nominal_batch_size``/``scale_lr: auto``.
#: (Ultralytics switches its automatic optimizer choice at the same count.)
SHORT_RUN_ITERS = 10_000

#: ``train.nominal_batch_size``/``optimizer.scale_lr`` value that lets the run's length decide.
Auto = Literal["auto"]

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


def is_short_run(epochs: int | None, iters_per_epoch: int | None) -> bool:
    """Whether the run has fewer than :data:`SHORT_RUN_ITERS` iterations (False when unknown)."""
    if epochs is None or iters_per_epoch is None:
        return False
    return epochs * iters_per_epoch < SHORT_RUN_ITERS


def nominal_batch_size(
    nominal: int | str | None, batch_size: int, epochs: int | None, iters_per_epoch: int | None
) -> int | None:
    """The nominal batch of this run: ``auto`` is YOLOv6's 64, or ``batch_size`` (no
    accumulation) in a short run; a number or null is kept as written."""
    if nominal != "auto":
        return nominal  # type: ignore[return-value]
    return batch_size if is_short_run(epochs, iters_per_epoch) else NOMINAL_BATCH_SIZE


def lr_scale(
    scale_lr: bool | str,
    batch_size: int,
    bs_per_gpu: int,
    num_processes: int,
    epochs: int | None,
    iters_per_epoch: int | None,
) -> float:
    """The factor on ``lr0``: YOLOv6's ``bs / (num_processes * bs_per_gpu)`` (``scale_lr:
    true``, or ``auto`` in a long run), 1 (``false``), or ``max(1, bs / bs_per_gpu) /
    num_processes`` (``auto`` in a short run: a small total batch does not scale lr0 down;
    the division by the process count stays, as it offsets the step's loss * world_size)."""
    if scale_lr == "auto" and is_short_run(epochs, iters_per_epoch):
        return max(1.0, scaled_lr(1.0, batch_size, bs_per_gpu)) / num_processes
    if scale_lr:
        return scaled_lr(1.0, batch_size, bs_per_gpu, num_processes)
    return 1.0


def describe(nominal: int | str | None, scale_lr: bool | str, epochs: int, iters_per_epoch: int) -> str:
    """One line for the log: which form of the recipe this run gets, and why."""
    if "auto" not in (nominal, scale_lr):
        return ""
    total = epochs * iters_per_epoch
    if is_short_run(epochs, iters_per_epoch):
        return (
            f"short run ({total} < {SHORT_RUN_ITERS} iterations): every batch is an optimizer step "
            f"and lr0 is not scaled down for small batches"
        )
    return f"long run ({total} >= {SHORT_RUN_ITERS} iterations): YOLOv6's accumulation and lr scaling"
