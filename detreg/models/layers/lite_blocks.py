"""Shuffle-style blocks of the YOLOv6-Lite backbone (stride 1 and stride 2) and their SE unit."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from detreg.models.layers.conv import ConvBN, ConvBNHS


class SEBlock(nn.Module):
    """Squeeze-excitation: global average, 1x1 down (ReLU), 1x1 up (hard sigmoid), rescale."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = nn.Conv2d(channels, channels // reduction, 1)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels // reduction, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        """Channel-wise gating of ``x``."""
        return x * self.gate(self.conv2(self.relu(self.conv1(self.pool(x)))))


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave the channels of ``groups`` equal groups."""
    b, c, h, w = x.shape
    return x.reshape(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class LiteEffiBlockS1(nn.Module):
    """Stride-1 unit: keep half the channels, transform the other half (pw, dw, SE, pw), shuffle."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv_pw_1 = ConvBNHS(in_channels // 2, mid_channels, 1)
        self.conv_dw_1 = ConvBN(mid_channels, mid_channels, 3, stride, groups=mid_channels)
        self.se = SEBlock(mid_channels)
        self.conv_1 = ConvBNHS(mid_channels, out_channels // 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Split, transform one half, concatenate, shuffle."""
        half = x.shape[1] // 2
        x1, x2 = x[:, :half], x[:, half : 2 * half]
        x2 = self.conv_1(self.se(self.conv_dw_1(self.conv_pw_1(x2))))
        return channel_shuffle(torch.cat((x1, x2), 1), 2)


class LiteEffiBlockS2(nn.Module):
    """Stride-2 unit: a dw+pw branch and a pw+dw+SE+pw branch, concatenated, then dw 3x3 and pw."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, stride: int = 2) -> None:
        super().__init__()
        self.conv_dw_1 = ConvBN(in_channels, in_channels, 3, stride, groups=in_channels)
        self.conv_1 = ConvBNHS(in_channels, out_channels // 2, 1)
        self.conv_pw_2 = ConvBNHS(in_channels, mid_channels // 2, 1)
        self.conv_dw_2 = ConvBN(mid_channels // 2, mid_channels // 2, 3, stride, groups=mid_channels // 2)
        self.se = SEBlock(mid_channels // 2)
        self.conv_2 = ConvBNHS(mid_channels // 2, out_channels // 2, 1)
        self.conv_dw_3 = ConvBNHS(out_channels, out_channels, 3, 1, groups=out_channels)
        self.conv_pw_3 = ConvBNHS(out_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Two downsampling branches, merged."""
        x1 = self.conv_1(self.conv_dw_1(x))
        x2 = self.conv_2(self.se(self.conv_dw_2(self.conv_pw_2(x))))
        return self.conv_pw_3(self.conv_dw_3(torch.cat((x1, x2), 1)))
