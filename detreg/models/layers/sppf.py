"""Spatial pyramid pooling layers: SPPF / SimSPPF and the CSP variants CSPSPPF / SimCSPSPPF."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from detreg.models.layers.conv import ConvBNAct


class SPPF(nn.Module):
    """Fast SPP: 1x1 to half width, three chained max-pools, concat of four, 1x1 (SiLU by default)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, act: str = "silu") -> None:
        super().__init__()
        hidden = in_channels // 2
        self.cv1 = ConvBNAct(in_channels, hidden, 1, 1, act=act)
        self.cv2 = ConvBNAct(hidden * 4, out_channels, 1, 1, act=act)
        self.m = nn.MaxPool2d(kernel_size, 1, kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        """Pool pyramid then merge."""
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class SimSPPF(SPPF):
    """SPPF with ReLU (used with the RepVGG block modes)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5) -> None:
        super().__init__(in_channels, out_channels, kernel_size, act="relu")


class CSPSPPF(nn.Module):
    """CSP version of SPPF: a pooled branch (1x1, 3x3, 1x1, pools, 1x1, 3x3) beside a 1x1 branch."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 5, e: float = 0.5, act: str = "silu"
    ) -> None:
        super().__init__()
        c = int(out_channels * e)
        self.cv1 = ConvBNAct(in_channels, c, 1, 1, act=act)
        self.cv2 = ConvBNAct(in_channels, c, 1, 1, act=act)
        self.cv3 = ConvBNAct(c, c, 3, 1, act=act)
        self.cv4 = ConvBNAct(c, c, 1, 1, act=act)
        self.m = nn.MaxPool2d(kernel_size, 1, kernel_size // 2)
        self.cv5 = ConvBNAct(4 * c, c, 1, 1, act=act)
        self.cv6 = ConvBNAct(c, c, 3, 1, act=act)
        self.cv7 = ConvBNAct(2 * c, out_channels, 1, 1, act=act)

    def forward(self, x: Tensor) -> Tensor:
        """Pooled branch and shortcut branch, concatenated and merged."""
        x1 = self.cv4(self.cv3(self.cv1(x)))
        y0 = self.cv2(x)
        y1 = self.m(x1)
        y2 = self.m(y1)
        y3 = self.cv6(self.cv5(torch.cat((x1, y1, y2, self.m(y2)), 1)))
        return self.cv7(torch.cat((y0, y3), 1))


class SimCSPSPPF(CSPSPPF):
    """CSPSPPF with ReLU (used with the RepVGG block modes)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, e: float = 0.5) -> None:
        super().__init__(in_channels, out_channels, kernel_size, e, act="relu")


def make_sppf(in_channels: int, out_channels: int, act: str, csp: bool, kernel_size: int = 5) -> nn.Module:
    """The SPPF flavour YOLOv6 picks: CSP or not, SiLU or ReLU (``act``)."""
    if csp:
        return CSPSPPF(in_channels, out_channels, kernel_size, act=act)
    return SPPF(in_channels, out_channels, kernel_size, act=act)
