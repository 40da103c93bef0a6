"""CSPBepBackbone: the YOLOv6-M/L backbone (BepC3 stages)."""

from __future__ import annotations

from typing import Any

from torch import nn

from detreg.models.backbones.rep_stages import RepStagedBackbone
from detreg.models.layers import BepC3
from detreg.registry import BACKBONES


@BACKBONES.register()
class CSPBepBackbone(RepStagedBackbone):
    """YOLOv6 CSPBep backbone: each stage is a BepC3 (CSP) stack with hidden ratio ``csp_e``.

    Same arguments as ``EfficientRep`` plus ``csp_e`` (2/3 for M, 1/2 for L).
    """

    def __init__(self, csp_e: float = 0.5, cspsppf: bool = False, **kwargs: Any) -> None:
        self.csp_e = csp_e
        super().__init__(cspsppf=cspsppf, **kwargs)

    def make_stage(self, channels: int, n: int, block: str) -> nn.Module:
        """A BepC3 with ``n`` repeats."""
        return BepC3(channels, channels, n, self.csp_e, block)
