"""EffiDeHead: the YOLOv6 efficient decoupled head (N/S/M/L)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from detreg.models.heads.decoupled import YOLOV6_ANCHORS, DecoupledHead
from detreg.models.layers import ConvBNSiLU, scale_widths
from detreg.registry import HEADS


@HEADS.register()
class EffiDeHead(DecoupledHead):
    """YOLOv6 head: per level a 1x1 stem, 3x3 cls conv, 3x3 reg conv (Conv-BN-SiLU), then 1x1
    predictors for ``num_classes`` scores and ``4*(reg_max+1)`` distances.

    ``in_channels`` are unscaled (scaled by ``width_multiple`` like the neck), ``use_dfl`` /
    ``reg_max`` switch DFL (reg_max 0 without it), ``fuse_ab`` adds the anchor-aided branch
    (``anchors_init``: per level, (w, h) pixel pairs). ``num_classes`` comes from the run
    context or the Detector. Init: cls bias ``-log((1-p)/p)``, reg bias 1, zero weights.
    """

    def __init__(
        self,
        in_channels: Sequence[int] = (128, 256, 512),
        num_classes: int | None = None,
        width_multiple: float = 1.0,
        strides: Sequence[int] = (8, 16, 32),
        use_dfl: bool = False,
        reg_max: int = 0,
        fuse_ab: bool = False,
        anchors_init: Sequence[Sequence[float]] = YOLOV6_ANCHORS,
        prior_prob: float = 0.01,
    ) -> None:
        super().__init__(
            scale_widths(in_channels, width_multiple),
            num_classes,
            strides,
            use_dfl,
            reg_max,
            fuse_ab,
            anchors_init,
            prior_prob,
        )

    def make_convs(self, channels: int) -> tuple[nn.Module, nn.Module, nn.Module]:
        """1x1 stem, 3x3 cls conv, 3x3 reg conv, all Conv-BN-SiLU."""
        return (
            ConvBNSiLU(channels, channels, 1),
            ConvBNSiLU(channels, channels, 3),
            ConvBNSiLU(channels, channels, 3),
        )
