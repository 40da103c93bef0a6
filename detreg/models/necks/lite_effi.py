"""LiteEffiNeck: the YOLOv6-Lite neck (unified width, CSP blocks, an extra stride-64 level)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from detreg.models.layers import ConvBNHS, CSPBlock, DPBlock, make_divisible_nearest
from detreg.registry import NECKS


@NECKS.register(aliases=("Lite_EffiNeck",))
class LiteEffiNeck(nn.Module):
    """YOLOv6-Lite neck: project P3/P4/P5 to ``unified_channels``, PAN with CSPBlocks (k=5),
    and a P6 level from stride-2 DPBlocks on the reduced P5 and the PAN P5.

    ``in_channels`` are the unscaled backbone widths P3, P4, P5 (scaled by ``width_multiple``
    to the nearest multiple of 16). Outputs P3, P4, P5, P6, each ``unified_channels`` wide.
    """

    def __init__(
        self,
        in_channels: Sequence[int] = (64, 128, 256),
        unified_channels: int = 96,
        width_multiple: float = 1.0,
    ) -> None:
        super().__init__()
        c3, c4, c5 = (make_divisible_nearest(c * width_multiple, 16) for c in in_channels)
        u = unified_channels
        self.in_channels = [c3, c4, c5]
        self.reduce_layer0 = ConvBNHS(c5, u, 1)
        self.reduce_layer1 = ConvBNHS(c4, u, 1)
        self.reduce_layer2 = ConvBNHS(c3, u, 1)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.csp_p4 = CSPBlock(2 * u, u, 5)
        self.csp_p3 = CSPBlock(2 * u, u, 5)
        self.csp_n3 = CSPBlock(2 * u, u, 5)
        self.csp_n4 = CSPBlock(2 * u, u, 5)
        self.downsample2 = DPBlock(u, u, 5, 2)
        self.downsample1 = DPBlock(u, u, 5, 2)
        self.p6_conv_1 = DPBlock(u, u, 5, 2)
        self.p6_conv_2 = DPBlock(u, u, 5, 2)
        self.out_channels: list[int] = [u] * 4
        self.strides: list[int] = [8, 16, 32, 64]

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        """``feats`` = backbone P3, P4, P5; returns P3, P4, P5, P6."""
        x2, x1, x0 = feats
        fpn_out0 = self.reduce_layer0(x0)
        x1 = self.reduce_layer1(x1)
        x2 = self.reduce_layer2(x2)
        f_out1 = self.csp_p4(torch.cat((self.upsample(fpn_out0), x1), 1))
        pan_out3 = self.csp_p3(torch.cat((self.upsample(f_out1), x2), 1))
        pan_out2 = self.csp_n3(torch.cat((self.downsample2(pan_out3), f_out1), 1))
        pan_out1 = self.csp_n4(torch.cat((self.downsample1(pan_out2), fpn_out0), 1))
        pan_out0 = self.p6_conv_1(fpn_out0) + self.p6_conv_2(pan_out1)
        return [pan_out3, pan_out2, pan_out1, pan_out0]
