"""Neck fusion layers: Transpose upsampling and BiFusion."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from detreg.models.layers.conv import ConvBNAct


class Transpose(nn.Module):
    """2x upsampling by a learnable 2x2 stride-2 transposed conv (with bias)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 2, stride: int = 2) -> None:
        super().__init__()
        self.upsample = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        """Upsample."""
        return self.upsample(x)


class BiFusion(nn.Module):
    """Fuse three levels at the middle one's resolution.

    Inputs ``[top, same, lower]``: ``top`` (already ``out_channels`` wide) is upsampled by
    Transpose, ``same`` gets a 1x1, ``lower`` a 1x1 then a 3x3 stride-2 conv; the three are
    concatenated and merged by a 1x1. ``in_channels = (same, lower)`` channel counts.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int) -> None:
        super().__init__()
        self.cv1 = ConvBNAct(in_channels[0], out_channels, 1, 1, act="relu")
        self.cv2 = ConvBNAct(in_channels[1], out_channels, 1, 1, act="relu")
        self.cv3 = ConvBNAct(out_channels * 3, out_channels, 1, 1, act="relu")
        self.upsample = Transpose(out_channels, out_channels)
        self.downsample = ConvBNAct(out_channels, out_channels, 3, 2, act="relu")

    def forward(self, x: Sequence[Tensor]) -> Tensor:
        """Upsampled top, projected same-level, downsampled lower level, merged."""
        x0 = self.upsample(x[0])
        x1 = self.cv1(x[1])
        x2 = self.downsample(self.cv2(x[2]))
        return self.cv3(torch.cat((x0, x1, x2), 1))
