"""EfficientRep: the YOLOv6-N/S backbone (RepBlock stages)."""

from __future__ import annotations

from torch import nn

from detreg.models.backbones.rep_stages import RepStagedBackbone
from detreg.models.layers import RepBlock
from detreg.registry import BACKBONES


@BACKBONES.register()
class EfficientRep(RepStagedBackbone):
    """YOLOv6 EfficientRep backbone: each stage is a RepBlock of ``block`` units.

    Args (unscaled YOLOv6 numbers; scaled here by ``depth_multiple``/``width_multiple``):
        channels: stem and stage widths. num_repeats: stem and stage repeats.
        block: 'repvgg' | 'qarepvgg' | 'conv_silu' | 'conv_relu' | 'hyper_search' | 'repopt'.
        fuse_p2: also output the stride-4 map (for BiFusion necks). cspsppf: CSP-style SPPF.
    """

    def make_stage(self, channels: int, n: int, block: str) -> nn.Module:
        """A RepBlock of ``n`` units."""
        return RepBlock(channels, channels, n, block)
