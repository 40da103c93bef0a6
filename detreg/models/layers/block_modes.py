"""The ``block`` switch of the YOLOv6 family: which basic 3x3 block the stages use."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from detreg.models.layers.conv import ConvBNAct
from detreg.models.layers.repopt import LinearAddBlock, RepOptBlock
from detreg.models.layers.repvgg import QARepVGGBlock, RepVGGBlock

BLOCK_MODES = ("repvgg", "qarepvgg", "conv_silu", "conv_relu", "hyper_search", "repopt")

BlockFactory = Callable[..., nn.Module]


def _conv(act: str) -> BlockFactory:
    def make(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> nn.Module:
        return ConvBNAct(in_channels, out_channels, kernel_size, stride, act=act)

    return make


def get_block(mode: str) -> BlockFactory:
    """``block(in, out, kernel_size=3, stride=1)`` factory for ``mode`` (one of ``BLOCK_MODES``)."""
    table: dict[str, BlockFactory] = {
        "repvgg": RepVGGBlock,
        "qarepvgg": QARepVGGBlock,
        "conv_silu": _conv("silu"),
        "conv_relu": _conv("relu"),
        "hyper_search": LinearAddBlock,  # RepOpt step 1: find the branch scales
        "repopt": RepOptBlock,  # RepOpt step 2: plain block, trained with RepOptSGD
    }
    if mode not in table:
        raise ValueError(f"unknown block mode {mode!r}; choose one of {', '.join(BLOCK_MODES)}")
    return table[mode]


def block_activation(mode: str) -> str:
    """Activation of the plain 1x1 convs around the blocks: SiLU for ``conv_silu``, else ReLU."""
    get_block(mode)  # validates
    return "silu" if mode == "conv_silu" else "relu"
