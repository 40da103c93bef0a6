"""Conv-BN-activation, the BN settings of YOLOv6, and Conv+BN folding."""

from __future__ import annotations

import torch
from torch import Tensor, nn

BN_EPS = 1e-3
BN_MOMENTUM = 0.03

ACTIVATIONS = {
    "relu": lambda: nn.ReLU(inplace=True),
    "silu": lambda: nn.SiLU(inplace=True),
    "hardswish": lambda: nn.Hardswish(inplace=True),
    None: nn.Identity,
}


def batch_norm(channels: int) -> nn.BatchNorm2d:
    """A ``BatchNorm2d`` with YOLOv6's settings (eps 1e-3, momentum 0.03)."""
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def activation(name: str | None) -> nn.Module:
    """The activation module called ``name`` (``relu``, ``silu``, ``hardswish`` or None)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(map(str, ACTIVATIONS))}")
    return ACTIVATIONS[name]()


@torch.no_grad()
def fold_bn(weight: Tensor, bias: Tensor | None, bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """Kernel and bias of ``bn(conv(x))`` as one conv (eval-mode BN statistics)."""
    std = (bn.running_var + bn.eps).sqrt()
    scale = bn.weight / std
    b = torch.zeros_like(bn.running_mean) if bias is None else bias
    return weight * scale.reshape(-1, 1, 1, 1), bn.bias + (b - bn.running_mean) * scale


class Fusable(nn.Module):
    """Base of layers that can fold themselves into fewer ops for deployment (``fuse()``)."""

    def fuse(self) -> None:
        """Fold in place; the eval-mode output must not change. Safe to call twice."""
        raise NotImplementedError


@torch.no_grad()
def set_conv_params(conv: nn.Conv2d, weight: Tensor, bias: Tensor) -> nn.Conv2d:
    """Give ``conv`` new weight and bias tensors in place (adding a bias if it had none)."""
    conv.weight = nn.Parameter(weight.detach().clone())
    conv.bias = nn.Parameter(bias.detach().clone())
    return conv


def fuse_conv_bn_(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """Make ``conv`` compute ``bn(conv(x))`` (in place; it gains a bias) and return it."""
    return set_conv_params(conv, *fold_bn(conv.weight, conv.bias, bn))


class ConvBNAct(Fusable):
    """``act(bn(conv(x)))`` with 'same' padding; ``fuse()`` folds the BN into the conv."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        act: str | None = "relu",
        groups: int = 1,
        padding: int | None = None,
        bias: bool = False,
    ) -> None:
        super().__init__()
        padding = kernel_size // 2 if padding is None else padding
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=bias
        )
        self.bn: nn.BatchNorm2d | None = batch_norm(out_channels)
        self.act = activation(act)

    def forward(self, x: Tensor) -> Tensor:
        """Conv, BN (unless fused), activation."""
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x)

    def fuse(self) -> None:
        """Fold BN into the conv (the conv gains a bias)."""
        if self.bn is None:
            return
        self.conv = fuse_conv_bn_(self.conv, self.bn)
        self.bn = None


def ConvBNReLU(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> ConvBNAct:
    """Conv-BN-ReLU (YOLOv6's ``conv_relu`` block and its 'Sim' layers)."""
    return ConvBNAct(in_channels, out_channels, kernel_size, stride, act="relu")


def ConvBNSiLU(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> ConvBNAct:
    """Conv-BN-SiLU (YOLOv6's ``conv_silu`` block and the head convs)."""
    return ConvBNAct(in_channels, out_channels, kernel_size, stride, act="silu")


def ConvBNHS(
    in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1
) -> ConvBNAct:
    """Conv-BN-Hardswish (the Lite models)."""
    return ConvBNAct(in_channels, out_channels, kernel_size, stride, act="hardswish", groups=groups)


def ConvBN(
    in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1
) -> ConvBNAct:
    """Conv-BN without activation (the Lite models' depthwise convs)."""
    return ConvBNAct(in_channels, out_channels, kernel_size, stride, act=None, groups=groups)
