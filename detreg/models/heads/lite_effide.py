"""LiteEffiDeHead: the YOLOv6-Lite head (depthwise-separable 5x5 convs, four levels)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from detreg.models.heads.decoupled import DecoupledHead
from detreg.models.layers import DPBlock
from detreg.registry import HEADS


@HEADS.register(aliases=("Lite_EffideHead",))
class LiteEffiDeHead(DecoupledHead):
    """YOLOv6-Lite head: per level a DPBlock (k=5) stem, cls conv and reg conv, then 1x1
    predictors. Same outputs and init as ``EffiDeHead``; ``in_channels`` are used as written.
    """

    def __init__(
        self,
        in_channels: Sequence[int] = (96, 96, 96, 96),
        num_classes: int | None = None,
        strides: Sequence[int] = (8, 16, 32, 64),
        use_dfl: bool = False,
        reg_max: int = 0,
        kernel_size: int = 5,
        prior_prob: float = 0.01,
    ) -> None:
        self.kernel_size = kernel_size
        super().__init__(in_channels, num_classes, strides, use_dfl, reg_max, False, (), prior_prob)

    def make_convs(self, channels: int) -> tuple[nn.Module, nn.Module, nn.Module]:
        """Three DPBlocks (stem, cls conv, reg conv)."""
        k = self.kernel_size
        return DPBlock(channels, channels, k), DPBlock(channels, channels, k), DPBlock(channels, channels, k)
