"""Building blocks: scaling rules, Rep-block fusion, block modes, shapes."""

from __future__ import annotations

import math

import pytest
import torch
from model_helpers import randomize
from torch import nn

from detreg.models.layers import (
    BN_EPS,
    BN_MOMENTUM,
    CSPSPPF,
    SPPF,
    BepC3,
    BiFusion,
    BottleRep,
    ConvBNAct,
    CSPBlock,
    DFLDecode,
    DPBlock,
    LiteEffiBlockS1,
    LiteEffiBlockS2,
    QARepVGGBlock,
    RepBlock,
    RepVGGBlock,
    Transpose,
    channel_shuffle,
    get_block,
    make_divisible,
    make_divisible_nearest,
    scale_depths,
    scale_widths,
)


def test_scaling_rules_match_yolov6_n_and_m() -> None:
    assert scale_depths([1, 6, 12, 18, 6], 0.33) == [1, 2, 4, 6, 2]
    assert scale_depths([12, 12, 12, 12], 0.33) == [4, 4, 4, 4]
    assert scale_depths([1, 6, 12, 18, 6], 0.6) == [1, 4, 7, 11, 4]
    assert scale_widths([64, 128, 256, 512, 1024], 0.25) == [16, 32, 64, 128, 256]
    assert scale_widths([256, 128, 128, 256, 256, 512], 0.75) == [192, 96, 96, 192, 192, 384]
    assert make_divisible(20.1) == 24
    # Lite rule: nearest multiple of 16, not below 90%
    assert [make_divisible_nearest(c * 0.7) for c in (24, 32, 64, 128, 256)] == [16, 32, 48, 96, 176]


def _check_fused_equal(block: nn.Module, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    randomize(block).eval()
    x = torch.randn(shape)
    with torch.no_grad():
        ref = block(x)
        block.fuse()
        block.fuse()  # idempotent
        out = block(x)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=0)


@pytest.mark.parametrize("cls", [RepVGGBlock, QARepVGGBlock])
@pytest.mark.parametrize("c1,c2,stride", [(8, 8, 1), (8, 16, 1), (8, 16, 2), (8, 8, 2)])
def test_rep_blocks_fuse_to_one_conv_with_equal_output(cls: type, c1: int, c2: int, stride: int) -> None:
    block = cls(c1, c2, 3, stride)
    _check_fused_equal(block, (2, c1, 12, 10))
    assert block.deploy
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 and convs[0].kernel_size == (3, 3) and convs[0].bias is not None
    assert not any(isinstance(m, nn.BatchNorm2d) for m in block.modules())


def test_repvgg_has_identity_branch_only_when_shapes_allow() -> None:
    assert RepVGGBlock(8, 8, 3, 1).rbr_identity is not None
    assert RepVGGBlock(8, 16, 3, 1).rbr_identity is None
    assert RepVGGBlock(8, 8, 3, 2).rbr_identity is None
    assert QARepVGGBlock(8, 8).has_identity and not QARepVGGBlock(8, 8, 3, 2).has_identity


@pytest.mark.parametrize(
    "layer,shape",
    [
        (ConvBNAct(6, 8, 3, 2, act="silu"), (2, 6, 9, 9)),
        (DPBlock(8, 8, 5, 2), (2, 8, 9, 9)),
        (BepC3(8, 16, 4, 0.5, "repvgg"), (1, 8, 8, 8)),
    ],
)
def test_conv_bn_layers_fuse_with_equal_output(layer: nn.Module, shape: tuple[int, ...]) -> None:
    randomize(layer).eval()
    x = torch.randn(shape)
    with torch.no_grad():
        ref = layer(x)
        for m in list(layer.modules()):
            if hasattr(m, "fuse"):
                m.fuse()
        out = layer(x)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=0)


def test_block_modes() -> None:
    assert isinstance(get_block("repvgg")(4, 8), RepVGGBlock)
    assert isinstance(get_block("qarepvgg")(4, 8), QARepVGGBlock)
    silu, relu = get_block("conv_silu")(4, 8, 3, 2), get_block("conv_relu")(4, 8)
    assert isinstance(silu.act, nn.SiLU) and silu.conv.stride == (2, 2)
    assert isinstance(relu.act, nn.ReLU)
    with pytest.raises(ValueError, match="repvgg"):
        get_block("vgg")
    # BepC3 follows the mode: SiLU 1x1s with conv_silu, ReLU otherwise
    assert isinstance(BepC3(8, 8, 2, block="conv_silu").cv1.act, nn.SiLU)
    assert isinstance(BepC3(8, 8, 2, block="qarepvgg").cv1.act, nn.ReLU)


def test_bn_settings() -> None:
    for layer in (ConvBNAct(4, 4), RepVGGBlock(4, 4), QARepVGGBlock(4, 4), DPBlock(4, 4)):
        bns = [m for m in layer.modules() if isinstance(m, nn.BatchNorm2d)]
        assert bns and all(b.eps == BN_EPS == 1e-3 and b.momentum == BN_MOMENTUM == 0.03 for b in bns)


def test_rep_block_counts() -> None:
    assert len(RepBlock(8, 16, 4)) == 4 and isinstance(RepBlock(8, 16, 4)[0], RepVGGBlock)
    bottle = RepBlock(8, 8, 4, bottle=True)
    assert len(bottle) == 2 and all(isinstance(m, BottleRep) for m in bottle)
    assert len(RepBlock(8, 8, 1, bottle=True)) == 1
    assert BottleRep(8, 8).alpha is not None and not BottleRep(8, 16).shortcut


def test_layer_shapes() -> None:
    x = torch.randn(1, 16, 16, 16)
    assert SPPF(16, 32).eval()(x).shape == (1, 32, 16, 16)
    assert CSPSPPF(16, 32, act="relu").eval()(x).shape == (1, 32, 16, 16)
    assert Transpose(16, 8)(x).shape == (1, 8, 32, 32)
    top, same, low = torch.randn(1, 8, 8, 8), torch.randn(1, 24, 16, 16), torch.randn(1, 12, 32, 32)
    assert BiFusion((24, 12), 8).eval()([top, same, low]).shape == (1, 8, 16, 16)
    assert LiteEffiBlockS2(16, 16, 32, 2).eval()(x).shape == (1, 32, 8, 8)
    assert LiteEffiBlockS1(16, 16, 16, 1).eval()(x).shape == (1, 16, 16, 16)
    assert CSPBlock(16, 8, 5).eval()(x).shape == (1, 8, 16, 16)


def test_channel_shuffle_interleaves_halves() -> None:
    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_dfl_decode_is_the_expected_bin() -> None:
    dfl = DFLDecode(16)
    uniform = torch.zeros(2, 5, 68)
    torch.testing.assert_close(dfl(uniform), torch.full((2, 5, 4), 8.0))
    peaked = torch.full((1, 1, 68), -1e4)
    for side, k in enumerate((0, 3, 9, 16)):
        peaked[0, 0, side * 17 + k] = 0.0
    torch.testing.assert_close(dfl(peaked), torch.tensor([[[0.0, 3.0, 9.0, 16.0]]]))
    raw = torch.randn(1, 3, 4)
    assert torch.equal(DFLDecode(0)(raw), raw)
    assert math.isclose(float(dfl.proj[-1]), 16.0)
