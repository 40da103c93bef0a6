"""Stacks of basic blocks: RepBlock, BottleRep and the CSP-style BepC3."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from detreg.models.layers.block_modes import block_activation, get_block
from detreg.models.layers.conv import ConvBNAct


class BottleRep(nn.Module):
    """Two basic blocks with a (learnably weighted) shortcut when shapes match."""

    def __init__(
        self, in_channels: int, out_channels: int, block: str = "repvgg", weight: bool = True
    ) -> None:
        super().__init__()
        make = get_block(block)
        self.conv1 = make(in_channels, out_channels)
        self.conv2 = make(out_channels, out_channels)
        self.shortcut = in_channels == out_channels
        self.alpha = nn.Parameter(torch.ones(1)) if weight else None

    def forward(self, x: Tensor) -> Tensor:
        """``conv2(conv1(x)) + alpha * x`` (shortcut only when shapes match)."""
        y = self.conv2(self.conv1(x))
        if not self.shortcut:
            return y
        return y + (self.alpha * x if self.alpha is not None else x)


class RepBlock(nn.Sequential):
    """``n`` basic blocks in a row (the first maps ``in -> out``).

    With ``bottle=True`` the units are BottleRep pairs and there are ``max(n // 2, 1)`` of them.
    """

    def __init__(
        self, in_channels: int, out_channels: int, n: int = 1, block: str = "repvgg", bottle: bool = False
    ) -> None:
        if bottle:
            count = max(n // 2, 1)
            layers = [
                BottleRep(in_channels if i == 0 else out_channels, out_channels, block) for i in range(count)
            ]
        else:
            make = get_block(block)
            layers = [make(in_channels if i == 0 else out_channels, out_channels) for i in range(max(n, 1))]
        super().__init__(*layers)


class BepC3(nn.Module):
    """CSP stack: ``cv3(cat(RepBlock(cv1(x)), cv2(x)))`` with hidden width ``out * e``."""

    def __init__(
        self, in_channels: int, out_channels: int, n: int = 1, e: float = 0.5, block: str = "repvgg"
    ) -> None:
        super().__init__()
        hidden = int(out_channels * e)
        act = block_activation(block)
        self.cv1 = ConvBNAct(in_channels, hidden, 1, 1, act=act)
        self.cv2 = ConvBNAct(in_channels, hidden, 1, 1, act=act)
        self.cv3 = ConvBNAct(2 * hidden, out_channels, 1, 1, act=act)
        self.m = RepBlock(hidden, hidden, n=n, block=block, bottle=True)

    def forward(self, x: Tensor) -> Tensor:
        """Split, transform one half, merge."""
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), dim=1))
