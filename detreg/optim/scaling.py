"""YOLOv6's batch-size scaling of weight decay and learning rate, one function each."""

from __future__ import annotations

import torch.distributed as dist

#: YOLOv6's nominal batch size: gradients are accumulated up to about this many images.
NOMINAL_BATCH_SIZE = 64


def world_size() -> int:
    """Number of processes in the default group, or 1 when torch.distributed is not up."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def nominal_accumulate(batch_size: int, nominal_batch_size: int = NOMINAL_BATCH_SIZE) -> int:
    """Steps to accumulate so one optimizer step sees about ``nominal_batch_size`` images.

    ``max(1, round(nominal_batch_size / batch_size))``; ``batch_size`` is the total batch
    (all processes together).
    """
    return max(1, round(nominal_batch_size / batch_size))


def scaled_weight_decay(
    weight_decay: float, batch_size: int, nominal_batch_size: int = NOMINAL_BATCH_SIZE
) -> float:
    """``wd * bs * accumulate / nominal``: the decay per image seen stays the same."""
    accumulate = nominal_accumulate(batch_size, nominal_batch_size)
    return weight_decay * batch_size * accumulate / nominal_batch_size


def scaled_lr(lr: float, batch_size: int, bs_per_gpu: int = 32, num_processes: int = 1) -> float:
    """``lr * bs / (world_size * bs_per_gpu)``: lr is given for ``bs_per_gpu`` images per process."""
    return lr * batch_size / (num_processes * bs_per_gpu)
