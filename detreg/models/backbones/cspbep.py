"""CSPBepBackbone: the YOLOv6-M/L backbone (BepC3 stages)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from detreg.models.backbones.rep_stages import RepStagedBackbone
from detreg.models.layers import BepC3
from detreg.registry import BACKBONES


@BACKBONES.register()
class CSPBepBackbone(RepStagedBackbone):
    """YOLOv6 CSPBep backbone: each stage is a BepC3 (CSP) stack with hidden ratio ``csp_e``.

    Same arguments as ``EfficientRep`` plus ``csp_e`` (2/3 for M, 1/2 for L).
    """

    def __init__(
        self,
        in_channels: int = 3,
        channels: Sequence[int] = (64, 128, 256, 512, 1024),
        num_repeats: Sequence[int] = (1, 6, 12, 18, 6),
        depth_multiple: float = 1.0,
        width_multiple: float = 1.0,
        block: str = "repvgg",
        csp_e: float = 0.5,
        fuse_p2: bool = True,
        cspsppf: bool = False,
    ) -> None:
        self.csp_e = csp_e
        super().__init__(
            in_channels, channels, num_repeats, depth_multiple, width_multiple, block, fuse_p2, cspsppf
        )

    def make_stage(self, channels: int, n: int, block: str) -> nn.Module:
        """A BepC3 with ``n`` repeats."""
        return BepC3(channels, channels, n, self.csp_e, block)
