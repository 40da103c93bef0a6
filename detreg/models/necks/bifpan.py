"""RepBiFPANNeck and CSPRepBiFPANNeck: YOLOv6's BiFusion PAN neck (N/S and M/L)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from detreg.models.layers import BepC3, BiFusion, ConvBNAct, RepBlock, scale_depths, scale_widths
from detreg.registry import NECKS


class BiFPANBase(nn.Module):
    """Top-down path with BiFusion (P5->P4->P3, also reading P2), bottom-up PAN path (P3->P5).

    ``in_channels``: backbone P2..P5 widths; ``channels``: the six neck widths (reduce P5,
    reduce P4, down P3, out P4, down P4, out P5); ``num_repeats``: the four stage repeats.
    All are unscaled YOLOv6 numbers, scaled by ``width_multiple`` / ``depth_multiple``.
    Outputs P3, P4, P5; ``out_channels`` and ``strides`` describe them.
    """

    def __init__(
        self,
        in_channels: Sequence[int] = (128, 256, 512, 1024),
        channels: Sequence[int] = (256, 128, 128, 256, 256, 512),
        num_repeats: Sequence[int] = (12, 12, 12, 12),
        depth_multiple: float = 1.0,
        width_multiple: float = 1.0,
        block: str = "repvgg",
    ) -> None:
        super().__init__()
        if len(in_channels) != 4 or len(channels) != 6 or len(num_repeats) != 4:
            raise ValueError("need 4 in_channels (P2..P5), 6 channels and 4 num_repeats")
        p2, p3, p4, p5 = scale_widths(in_channels, width_multiple)
        c = scale_widths(channels, width_multiple)
        r = scale_depths(num_repeats, depth_multiple)
        self.in_channels = [p2, p3, p4, p5]
        self.reduce_layer0 = ConvBNAct(p5, c[0], 1, 1, act="relu")
        self.bifusion0 = BiFusion((p4, p3), c[0])
        self.rep_p4 = self.make_stage(c[0], c[0], r[0], block)
        self.reduce_layer1 = ConvBNAct(c[0], c[1], 1, 1, act="relu")
        self.bifusion1 = BiFusion((p3, p2), c[1])
        self.rep_p3 = self.make_stage(c[1], c[1], r[1], block)
        self.downsample2 = ConvBNAct(c[1], c[2], 3, 2, act="relu")
        self.rep_n3 = self.make_stage(c[1] + c[2], c[3], r[2], block)
        self.downsample1 = ConvBNAct(c[3], c[4], 3, 2, act="relu")
        self.rep_n4 = self.make_stage(c[0] + c[4], c[5], r[3], block)
        self.out_channels: list[int] = [c[1], c[3], c[5]]
        self.strides: list[int] = [8, 16, 32]

    def make_stage(self, in_channels: int, out_channels: int, n: int, block: str) -> nn.Module:
        """The stack after each fusion (subclasses choose)."""
        raise NotImplementedError

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        """``feats`` = backbone P2, P3, P4, P5; returns P3, P4, P5."""
        x3, x2, x1, x0 = feats
        fpn_out0 = self.reduce_layer0(x0)
        f_out0 = self.rep_p4(self.bifusion0([fpn_out0, x1, x2]))
        fpn_out1 = self.reduce_layer1(f_out0)
        pan_out2 = self.rep_p3(self.bifusion1([fpn_out1, x2, x3]))
        pan_out1 = self.rep_n3(torch.cat((self.downsample2(pan_out2), fpn_out1), 1))
        pan_out0 = self.rep_n4(torch.cat((self.downsample1(pan_out1), fpn_out0), 1))
        return [pan_out2, pan_out1, pan_out0]


@NECKS.register()
class RepBiFPANNeck(BiFPANBase):
    """YOLOv6-N/S neck: BiFusion PAN whose stages are RepBlocks of ``block`` units."""

    def make_stage(self, in_channels: int, out_channels: int, n: int, block: str) -> nn.Module:
        """A RepBlock."""
        return RepBlock(in_channels, out_channels, n, block)


@NECKS.register()
class CSPRepBiFPANNeck(BiFPANBase):
    """YOLOv6-M/L neck: BiFusion PAN whose stages are BepC3 stacks (hidden ratio ``csp_e``)."""

    def __init__(self, csp_e: float = 0.5, **kwargs: Any) -> None:
        self.csp_e = csp_e
        super().__init__(**kwargs)

    def make_stage(self, in_channels: int, out_channels: int, n: int, block: str) -> nn.Module:
        """A BepC3."""
        return BepC3(in_channels, out_channels, n, self.csp_e, block)
