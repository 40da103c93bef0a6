"""Exactly-equivalent fast paths: strided 1x1 conv (RepVGG stride-2 branch), fp32 loss under AMP."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from detreg.models.layers.repvgg import RepVGGBlock, strided_conv1x1


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (2, 5, 33, 31)])
def test_strided_conv1x1_matches_conv(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    x = torch.randn(*shape, requires_grad=True)
    w = torch.randn(7, shape[1], 1, 1, requires_grad=True)
    ref = F.conv2d(x, w, stride=2)
    out = strided_conv1x1(x, w, 2)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(ref)
    for a, b in zip(torch.autograd.grad(out, (x, w), g), torch.autograd.grad(ref, (x, w), g)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_repvgg_stride2_block_matches_reference() -> None:
    """The stride-2 RepVGG block (fast 1x1 branch) equals the plain-conv formulation."""
    torch.manual_seed(0)
    block = RepVGGBlock(3, 8, 3, 2).train()
    assert block.rbr_1x1._fast1x1
    x = torch.randn(2, 3, 34, 34, requires_grad=True)

    def reference(inp: torch.Tensor) -> torch.Tensor:
        one = block.rbr_1x1
        return block.act(block.rbr_dense(inp) + one.bn(one.conv(inp)))

    params = [p for p in block.parameters()]
    ref = reference(x)
    gref = torch.autograd.grad(ref.sum(), [x, *params])
    out = block(x)
    gout = torch.autograd.grad(out.sum(), [x, *params])
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    for a, b in zip(gout, gref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    block.eval()
    y = block(x)
    block.fuse()
    torch.testing.assert_close(block(x), y, atol=1e-5, rtol=1e-5)
