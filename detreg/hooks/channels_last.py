"""ChannelsLastHook: train with the model's weights in ``channels_last`` (``train.channels_last: true``)."""

from __future__ import annotations

import torch

from detreg.engine.hook import Hook, RunnerContract
from detreg.registry import HOOKS


@HOOKS.register()
class ChannelsLastHook(Hook):
    """Put the model's 4-d weights in ``torch.channels_last`` memory layout (priority 15).

    Then every convolution runs in the NHWC layout (oneDNN on the CPU, cuDNN on the GPU),
    the input included: a convolution with a ``channels_last`` weight gives a
    ``channels_last`` output whatever the input's layout, so the images are left as they
    come. Measured on a 2-core AVX512-BF16 CPU, YOLOv6-N at 320 px, batch 16, one thread
    (``benchmarks/train_step_ab.py --ab channels_last``): forward + backward + step 1.16-1.22x
    faster in fp32 (multi-branch and RepOpt), 1.08-1.17x under bf16 autocast.

    Done in ``configure_model``: after weight loading, freezing and QAT's module surgery
    (lower priorities), before DDP wraps the model, the optimizer is built and EMA or a
    teacher copies it (they copy the layout). The values are unchanged; results differ
    from the default layout only in the last bits (another kernel sums in another order).
    Checkpoints hold the same values (a ``channels_last`` tensor loads into any model).

    Args:
        channels_last: from ``train.channels_last``; False leaves the layout alone.
    """

    priority = 15

    def __init__(self, channels_last: bool = True) -> None:
        self.channels_last = bool(channels_last)

    def configure_model(self, runner: RunnerContract) -> None:
        """Convert the model's parameters and buffers in place (the parameter objects stay)."""
        if self.channels_last:
            runner.unwrapped_model.to(memory_format=torch.channels_last)
            runner.logger.info("train.channels_last: model weights in channels_last (NHWC convolutions)")
