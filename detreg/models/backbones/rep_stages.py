"""Shared skeleton of EfficientRep and CSPBepBackbone: stem, four stride-2 stages, SPPF."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from detreg.models.layers import block_activation, get_block, make_sppf, scale_depths, scale_widths


class RepStagedBackbone(nn.Module):
    """Stem (stride 2) then four stages of [stride-2 block, stage stack]; SPPF ends the last.

    ``channels`` and ``num_repeats`` are the unscaled YOLOv6 lists (5 entries, stem first);
    they are scaled by ``width_multiple`` / ``depth_multiple``. Outputs P3, P4, P5 (and P2
    first when ``fuse_p2``); ``out_channels`` and ``strides`` describe them.
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
        super().__init__()
        if len(channels) != 5 or len(num_repeats) != 5:
            raise ValueError("channels and num_repeats need 5 entries (stem, then stages 2-5)")
        ch = scale_widths(channels, width_multiple)
        reps = scale_depths(num_repeats, depth_multiple)
        make = get_block(block)
        self.fuse_p2 = fuse_p2
        self.stem = make(in_channels, ch[0], 3, 2)
        stages = []
        for i in range(1, 5):
            layers = [make(ch[i - 1], ch[i], 3, 2), self.make_stage(ch[i], reps[i], block)]
            if i == 4:
                layers.append(make_sppf(ch[4], ch[4], block_activation(block), cspsppf))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        first = 1 if fuse_p2 else 2
        self.out_channels: list[int] = ch[first:]
        self.strides: list[int] = [2 ** (i + 1) for i in range(first, 5)]

    def make_stage(self, channels: int, n: int, block: str) -> nn.Module:
        """The stack that follows each stride-2 block (subclasses choose)."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> list[Tensor]:
        """Feature maps from fine to coarse (P2 first with ``fuse_p2``)."""
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages, start=2):
            x = stage(x)
            if i >= 3 or self.fuse_p2:
                outs.append(x)
        return outs
