"""The RepOpt blocks: shapes, branches, fusion (``block: hyper_search`` and ``block: repopt``)."""

from __future__ import annotations

import pytest
import torch
from model_helpers import randomize

from detreg.models.layers import ConvBNAct, LinearAddBlock, RepOptBlock, get_block
from detreg.models.layers.block_modes import BLOCK_MODES, block_activation


@pytest.mark.parametrize("cin,cout,stride", [(8, 8, 1), (4, 8, 1), (8, 8, 2)])
def test_linear_add_block_is_its_scaled_branches_and_fuses(cin: int, cout: int, stride: int) -> None:
    torch.manual_seed(0)
    block = LinearAddBlock(cin, cout, stride=stride)
    assert (block.scale_identity is not None) == (cin == cout and stride == 1)
    with torch.no_grad():
        for p in (block.scale_conv, block.scale_1x1, block.scale_identity):
            if p is not None:
                p.copy_(torch.randn(p.shape))
    randomize(block).eval()
    x = torch.randn(2, cin, 12, 12)
    with torch.no_grad():
        y = block.conv(x) * block.scale_conv.view(1, -1, 1, 1)
        y = y + torch.nn.functional.conv2d(x, block.conv_1x1.weight, stride=stride) * block.scale_1x1.view(
            1, -1, 1, 1
        )
        if block.scale_identity is not None:
            y = y + x * block.scale_identity.view(1, -1, 1, 1)
        ref = torch.relu(block.bn(y))
        torch.testing.assert_close(block(x), ref, atol=1e-5, rtol=1e-5)
        block.fuse()
        block.fuse()
        assert block.deploy and block.scale_conv is None and block.bn is None
        torch.testing.assert_close(block(x), ref, atol=1e-4, rtol=1e-4)


def test_repopt_block_is_a_plain_conv_bn_relu_that_fuses() -> None:
    block = RepOptBlock(8, 8, 3, 2)
    assert isinstance(block, ConvBNAct) and block.conv.kernel_size == (3, 3) and block.conv.stride == (2, 2)
    assert RepOptBlock(8, 8).has_identity and not RepOptBlock(4, 8).has_identity
    randomize(block).eval()
    x = torch.randn(1, 8, 10, 10)
    with torch.no_grad():
        ref = block(x)
        block.fuse()
        torch.testing.assert_close(block(x), ref, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="kernel_size 3"):
        RepOptBlock(4, 4, 1)
    with pytest.raises(ValueError, match="kernel_size 3"):
        LinearAddBlock(4, 4, 1)


def test_block_modes_name_the_repopt_blocks() -> None:
    assert {"hyper_search", "repopt"} <= set(BLOCK_MODES)
    assert isinstance(get_block("hyper_search")(4, 4), LinearAddBlock)
    assert isinstance(get_block("repopt")(4, 4), RepOptBlock)
    assert block_activation("repopt") == block_activation("hyper_search") == "relu"
