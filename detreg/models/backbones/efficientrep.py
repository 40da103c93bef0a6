"""EfficientRep: the YOLOv6-N/S backbone (RepBlock stages)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from detreg.models.backbones.rep_stages import RepStagedBackbone
from detreg.models.layers import RepBlock
from detreg.registry import BACKBONES


@BACKBONES.register()
class EfficientRep(RepStagedBackbone):
    """YOLOv6 EfficientRep backbone: each stage is a RepBlock of ``block`` units.

    Args (unscaled YOLOv6 numbers; scaled here by ``depth_multiple``/``width_multiple``):
        channels: stem and stage widths. num_repeats: stem and stage repeats.
        block: 'repvgg' | 'qarepvgg' | 'conv_silu' | 'conv_relu'.
        fuse_p2: also output the stride-4 map (for BiFusion necks). cspsppf: CSP-style SPPF.
    """

    def __init__(
        self,
        in_channels: int = 3,
        channels: Sequence[int] = (64, 128, 256, 512, 1024),
        num_repeats: Sequence[int] = (1, 6, 12, 18, 6),
        depth_multiple: float = 1.0,
        width_multiple: float = 1.0,
        block: str = "repvgg",
        fuse_p2: bool = True,
        cspsppf: bool = True,
    ) -> None:
        super().__init__(
            in_channels, channels, num_repeats, depth_multiple, width_multiple, block, fuse_p2, cspsppf
        )

    def make_stage(self, channels: int, n: int, block: str) -> nn.Module:
        """A RepBlock of ``n`` units."""
        return RepBlock(channels, channels, n, block)
