"""LiteEffiBackbone: the YOLOv6-Lite mobile backbone (shuffle-style Lite blocks)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from detreg.models.layers import (
    ConvBNHS,
    LiteEffiBlockS1,
    LiteEffiBlockS2,
    make_divisible,
    make_divisible_nearest,
)
from detreg.registry import BACKBONES


@BACKBONES.register(aliases=("Lite_EffiBackbone",))
class LiteEffiBackbone(nn.Module):
    """YOLOv6-Lite backbone: a 24-channel stride-2 stem then four Lite stages (stride 2 each).

    ``out_channels`` (unscaled, stem first; the stem is always 24 as in YOLOv6) are scaled by
    ``width_multiple`` to the nearest multiple of 16; each stage's middle width is
    ``make_divisible(int(out * scale_size), 8)``. Stage ``i`` has ``num_repeats[i]`` blocks (the
    first one strided). Outputs the stride 8, 16 and 32 maps.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: Sequence[int] = (24, 32, 64, 128, 256),
        num_repeats: Sequence[int] = (1, 3, 7, 3),
        width_multiple: float = 1.0,
        scale_size: float = 0.5,
    ) -> None:
        super().__init__()
        outs = [make_divisible_nearest(c * width_multiple, 16) for c in out_channels]
        mids = [make_divisible(int(c * scale_size), 8) for c in outs]
        outs[0] = 24
        self.stem = ConvBNHS(in_channels, outs[0], 3, 2)
        self.stages = nn.ModuleList(
            self._stage(num_repeats[i], outs[i], mids[i + 1], outs[i + 1]) for i in range(4)
        )
        self.out_channels: list[int] = outs[2:]
        self.strides: list[int] = [8, 16, 32]

    @staticmethod
    def _stage(n: int, in_channels: int, mid_channels: int, out_channels: int) -> nn.Sequential:
        blocks: list[nn.Module] = [LiteEffiBlockS2(in_channels, mid_channels, out_channels, 2)]
        blocks += [LiteEffiBlockS1(out_channels, mid_channels, out_channels, 1) for _ in range(n - 1)]
        return nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> list[Tensor]:
        """Stride 8, 16, 32 feature maps."""
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i >= 1:
                outs.append(x)
        return outs
