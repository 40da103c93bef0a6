"""Building blocks of the YOLOv6 family (conv, Rep blocks, SPPF, fusion, Lite blocks)."""

from detreg.models.layers.block_modes import BLOCK_MODES, block_activation, get_block
from detreg.models.layers.conv import (
    BN_EPS,
    BN_MOMENTUM,
    ConvBN,
    ConvBNAct,
    ConvBNHS,
    ConvBNReLU,
    ConvBNSiLU,
    Fusable,
    batch_norm,
    fold_bn,
)
from detreg.models.layers.dfl import DFLDecode
from detreg.models.layers.fusion import BiFusion, Transpose
from detreg.models.layers.lite_blocks import LiteEffiBlockS1, LiteEffiBlockS2, SEBlock, channel_shuffle
from detreg.models.layers.lite_neck_blocks import CSPBlock, DarknetBlock, DPBlock
from detreg.models.layers.rep_block import BepC3, BottleRep, RepBlock
from detreg.models.layers.repopt import LinearAddBlock, RepOptBlock
from detreg.models.layers.repvgg import QARepVGGBlock, RepVGGBlock
from detreg.models.layers.scaling import (
    make_divisible,
    make_divisible_nearest,
    scale_depth,
    scale_depths,
    scale_widths,
)
from detreg.models.layers.sppf import CSPSPPF, SPPF, SimCSPSPPF, SimSPPF, make_sppf

__all__ = [
    "BLOCK_MODES",
    "BN_EPS",
    "BN_MOMENTUM",
    "CSPSPPF",
    "SPPF",
    "BepC3",
    "BiFusion",
    "BottleRep",
    "CSPBlock",
    "ConvBN",
    "ConvBNAct",
    "ConvBNHS",
    "ConvBNReLU",
    "ConvBNSiLU",
    "DFLDecode",
    "DPBlock",
    "DarknetBlock",
    "Fusable",
    "LinearAddBlock",
    "LiteEffiBlockS1",
    "LiteEffiBlockS2",
    "QARepVGGBlock",
    "RepBlock",
    "RepOptBlock",
    "RepVGGBlock",
    "SEBlock",
    "SimCSPSPPF",
    "SimSPPF",
    "Transpose",
    "batch_norm",
    "block_activation",
    "channel_shuffle",
    "fold_bn",
    "get_block",
    "make_divisible",
    "make_divisible_nearest",
    "make_sppf",
    "scale_depth",
    "scale_depths",
    "scale_widths",
]
