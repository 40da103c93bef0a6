"""RepVGG and QARepVGG blocks: multi-branch for training, one 3x3 conv after ``fuse()``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from detreg.models.layers.conv import Fusable, batch_norm, fold_bn, set_conv_params


def strided_conv1x1(x: Tensor, weight: Tensor, stride: int) -> Tensor:
    """``F.conv2d(x, weight, stride=stride)`` for a bias-free, ungrouped 1x1 ``weight``.

    The same function (to float rounding) as a subsample then a channel matmul: much
    faster than the strided 1x1 convolution's backward on the CPU (e.g. 3x for the stem's
    3-channel input), and free of its large ``grad_input`` scatter.
    """
    xs = x[:, :, ::stride, ::stride]
    return torch.einsum("oc,bchw->bohw", weight.flatten(1), xs)


class _ConvBN(nn.Module):
    """A plain conv + BN branch (no activation); folded by the owning block."""

    def __init__(self, c1: int, c2: int, k: int, s: int, p: int, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, p, groups=groups, bias=False)
        self.bn = batch_norm(c2)
        # strided 1x1 conv (RepVGG's 1x1 branch of a stride-2 block): subsample + matmul
        self._fast1x1 = k == 1 and s > 1 and p == 0 and groups == 1

    def forward(self, x: Tensor) -> Tensor:
        if self._fast1x1 and x.device.type == "cpu":
            return self.bn(strided_conv1x1(x, self.conv.weight, self.conv.stride[0]))
        return self.bn(self.conv(x))

    def folded(self) -> tuple[Tensor, Tensor]:
        return fold_bn(self.conv.weight, None, self.bn)


def _identity_kernel(channels: int, groups: int, k: int, like: Tensor) -> Tensor:
    """The ``k x k`` kernel of the identity map (per group)."""
    per_group = channels // groups
    kernel = torch.zeros(channels, per_group, k, k, dtype=like.dtype, device=like.device)
    idx = torch.arange(channels, device=like.device)
    kernel[idx, idx % per_group, k // 2, k // 2] = 1.0
    return kernel


def _pad_to(kernel: Tensor, k: int) -> Tensor:
    """Zero-pad a square kernel to ``k x k`` (centred)."""
    p = (k - kernel.shape[-1]) // 2
    return F.pad(kernel, [p, p, p, p]) if p else kernel


class _RepBase(Fusable):
    """Shared shape handling and deploy switch of the Rep blocks."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int, groups: int
    ) -> None:
        super().__init__()
        if kernel_size != 3:
            raise ValueError(f"{type(self).__name__} needs kernel_size 3, got {kernel_size}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride, self.groups = stride, groups
        self.act = nn.ReLU(inplace=True)
        self.reparam: nn.Conv2d | None = None

    @property
    def deploy(self) -> bool:
        """True once the block is fused into one 3x3 conv."""
        return self.reparam is not None

    def _make_reparam(self, kernel: Tensor, bias: Tensor) -> None:
        # Reuse the dense branch's 3x3 conv (same geometry) instead of initialising a new one.
        self.reparam = set_conv_params(self.rbr_dense.conv, kernel, bias)


class RepVGGBlock(_RepBase):
    """RepVGG block: ReLU(BN(3x3) + BN(1x1) + BN(identity)); identity only when shapes allow.

    ``fuse()`` (deploy mode) folds the three branches into one 3x3 conv with a bias.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, groups)
        self.rbr_dense: _ConvBN | None = _ConvBN(in_channels, out_channels, 3, stride, 1, groups)
        self.rbr_1x1: _ConvBN | None = _ConvBN(in_channels, out_channels, 1, stride, 0, groups)
        self.rbr_identity: nn.BatchNorm2d | None = (
            batch_norm(in_channels) if in_channels == out_channels and stride == 1 else None
        )

    def forward(self, x: Tensor) -> Tensor:
        """Sum of the branches then ReLU (or the fused conv then ReLU)."""
        if self.reparam is not None:
            return self.act(self.reparam(x))
        y = self.rbr_dense(x) + self.rbr_1x1(x)
        if self.rbr_identity is not None:
            y = y + self.rbr_identity(x)
        return self.act(y)

    @torch.no_grad()
    def equivalent_kernel_bias(self) -> tuple[Tensor, Tensor]:
        """One 3x3 kernel and bias equal to the three branches (eval-mode BN)."""
        k3, b3 = self.rbr_dense.folded()
        k1, b1 = self.rbr_1x1.folded()
        kernel, bias = k3 + _pad_to(k1, 3), b3 + b1
        if self.rbr_identity is not None:
            kid, bid = fold_bn(
                _identity_kernel(self.in_channels, self.groups, 3, k3), None, self.rbr_identity
            )
            kernel, bias = kernel + kid, bias + bid
        return kernel, bias

    def fuse(self) -> None:
        """Switch to deploy mode: one 3x3 conv, training branches removed."""
        if self.deploy:
            return
        self._make_reparam(*self.equivalent_kernel_bias())
        self.rbr_dense = self.rbr_1x1 = self.rbr_identity = None


class QARepVGGBlock(_RepBase):
    """Quantization-aware RepVGG: ReLU(BN(BN(3x3) + 1x1 + identity)) (no BN on 1x1/identity).

    ``fuse()`` folds everything, the outer BN included, into one 3x3 conv with a bias.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, groups)
        self.rbr_dense: _ConvBN | None = _ConvBN(in_channels, out_channels, 3, stride, 1, groups)
        self.rbr_1x1: nn.Conv2d | None = nn.Conv2d(
            in_channels, out_channels, 1, stride, 0, groups=groups, bias=False
        )
        self.has_identity = in_channels == out_channels and stride == 1
        self.bn: nn.BatchNorm2d | None = batch_norm(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        """Sum of the branches, outer BN, ReLU (or the fused conv then ReLU)."""
        if self.reparam is not None:
            return self.act(self.reparam(x))
        y = self.rbr_dense(x) + self.rbr_1x1(x)
        if self.has_identity:
            y = y + x
        return self.act(self.bn(y))

    @torch.no_grad()
    def equivalent_kernel_bias(self) -> tuple[Tensor, Tensor]:
        """One 3x3 kernel and bias equal to the whole block before the ReLU (eval-mode BN)."""
        kernel, bias = self.rbr_dense.folded()
        kernel = kernel + _pad_to(self.rbr_1x1.weight, 3)
        if self.has_identity:
            kernel = kernel + _identity_kernel(self.in_channels, self.groups, 3, kernel)
        return fold_bn(kernel, bias, self.bn)

    def fuse(self) -> None:
        """Switch to deploy mode: one 3x3 conv, branches and outer BN removed."""
        if self.deploy:
            return
        self._make_reparam(*self.equivalent_kernel_bias())
        self.rbr_dense = self.rbr_1x1 = self.bn = None
