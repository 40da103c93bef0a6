"""Depthwise-separable blocks of the YOLOv6-Lite neck and head: DPBlock, DarknetBlock, CSPBlock."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from detreg.models.layers.conv import ConvBNAct, ConvBNHS


class DPBlock(nn.Module):
    """Depthwise ``k x k`` conv-BN-Hardswish then pointwise conv-BN-Hardswish (convs with bias)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        # YOLOv6's DPBlock convs carry a bias before their BN; kept for equal parameter counts.
        hs = "hardswish"
        self.dw = ConvBNAct(
            in_channels, out_channels, kernel_size, stride, act=hs, groups=out_channels, bias=True
        )
        self.pw = ConvBNAct(out_channels, out_channels, 1, 1, act=hs, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        """Depthwise then pointwise."""
        return self.pw(self.dw(x))


class DarknetBlock(nn.Module):
    """1x1 ConvBNHS to ``out * expansion`` then a DPBlock."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, expansion: float = 0.5
    ) -> None:
        super().__init__()
        hidden = int(out_channels * expansion)
        self.conv_1 = ConvBNHS(in_channels, hidden, 1)
        self.conv_2 = DPBlock(hidden, out_channels, kernel_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Project then depthwise-separable conv."""
        return self.conv_2(self.conv_1(x))


class CSPBlock(nn.Module):
    """CSP unit: ``conv_3(cat(DarknetBlock(conv_1(x)), conv_2(x)))``, all Hardswish."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, expand_ratio: float = 0.5
    ) -> None:
        super().__init__()
        mid = int(out_channels * expand_ratio)
        self.conv_1 = ConvBNHS(in_channels, mid, 1)
        self.conv_2 = ConvBNHS(in_channels, mid, 1)
        self.conv_3 = ConvBNHS(2 * mid, out_channels, 1)
        self.blocks = DarknetBlock(mid, mid, kernel_size, 1.0)

    def forward(self, x: Tensor) -> Tensor:
        """Split, transform one path, merge."""
        return self.conv_3(torch.cat((self.blocks(self.conv_1(x)), self.conv_2(x)), 1))
