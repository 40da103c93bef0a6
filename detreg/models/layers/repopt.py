"""RepOpt blocks (Ding et al. 2022, "Re-parameterizing Your Optimizers rather than Architectures").

- :class:`LinearAddBlock` (``block: hyper_search``): ReLU(BN(s3 * conv3x3(x) + s1 * conv1x1(x)
  + sid * x)) with trainable per-output-channel scales ``s3``, ``s1``, ``sid`` and one BN
  after the sum (no BN in the branches, so the scales mean something). Trained once to
  find the scales that ``detreg repopt-scales`` extracts.
- :class:`RepOptBlock` (``block: repopt``): the plain ReLU(BN(conv3x3(x))) trained with
  :class:`detreg.optim.repopt.RepOptimizerSGD`, whose gradient masks (from those scales)
  make it train like the multi-branch block. Its conv is the weight the masks apply to.

Both fuse into one 3x3 conv with a bias for deployment, like the RepVGG blocks.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from detreg.models.layers.conv import ConvBNAct, Fusable, batch_norm, fold_bn, set_conv_params
from detreg.models.layers.repvgg import _identity_kernel, _pad_to, strided_conv1x1


class LinearAddBlock(Fusable):
    """Hyper-search block: scaled 3x3, 1x1 and identity branches, one BN, ReLU.

    ``scale_conv`` and ``scale_1x1`` start at ``conv_scale_init``, ``scale_identity`` (only
    when ``in == out`` and ``stride == 1``) at 1, as in YOLOv6's ``LinearAddBlock``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        conv_scale_init: float = 1.0,
    ) -> None:
        super().__init__()
        if kernel_size != 3:
            raise ValueError(f"LinearAddBlock needs kernel_size 3, got {kernel_size}")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.conv: nn.Conv2d | None = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.conv_1x1: nn.Conv2d | None = nn.Conv2d(in_channels, out_channels, 1, stride, 0, bias=False)
        self.scale_conv: nn.Parameter | None = nn.Parameter(torch.full((out_channels,), conv_scale_init))
        self.scale_1x1: nn.Parameter | None = nn.Parameter(torch.full((out_channels,), conv_scale_init))
        self.has_identity = in_channels == out_channels and stride == 1
        self.scale_identity: nn.Parameter | None = (
            nn.Parameter(torch.ones(out_channels)) if self.has_identity else None
        )
        self.bn: nn.BatchNorm2d | None = batch_norm(out_channels)
        self.act = nn.ReLU(inplace=True)
        self.reparam: nn.Conv2d | None = None

    @property
    def deploy(self) -> bool:
        """True once the block is fused into one 3x3 conv."""
        return self.reparam is not None

    def forward(self, x: Tensor) -> Tensor:
        """Sum of the scaled branches, BN, ReLU (or the fused conv then ReLU)."""
        if self.reparam is not None:
            return self.act(self.reparam(x))
        y = self.conv(x) * self.scale_conv.view(1, -1, 1, 1)
        if self.stride > 1 and x.device.type == "cpu":
            y1 = strided_conv1x1(x, self.conv_1x1.weight, self.stride)
        else:
            y1 = self.conv_1x1(x)
        y = y + y1 * self.scale_1x1.view(1, -1, 1, 1)
        if self.scale_identity is not None:
            y = y + x * self.scale_identity.view(1, -1, 1, 1)
        return self.act(self.bn(y))

    @torch.no_grad()
    def equivalent_kernel(self) -> Tensor:
        """The one 3x3 kernel equal to the three scaled branches (before the BN)."""
        kernel = self.conv.weight * self.scale_conv.view(-1, 1, 1, 1)
        kernel = kernel + _pad_to(self.conv_1x1.weight * self.scale_1x1.view(-1, 1, 1, 1), 3)
        if self.scale_identity is not None:
            ident = _identity_kernel(self.in_channels, 1, 3, kernel)
            kernel = kernel + ident * self.scale_identity.view(-1, 1, 1, 1)
        return kernel

    def fuse(self) -> None:
        """Switch to deploy mode: one 3x3 conv with the BN folded in."""
        if self.deploy:
            return
        kernel, bias = fold_bn(self.equivalent_kernel(), None, self.bn)
        self.reparam = set_conv_params(self.conv, kernel, bias)
        self.conv = self.conv_1x1 = self.bn = None
        self.scale_conv = self.scale_1x1 = self.scale_identity = None


class RepOptBlock(ConvBNAct):
    """Plain conv3x3 + BN + ReLU, the block a RepOpt optimizer trains (YOLOv6's ``RealVGGBlock``).

    A :class:`ConvBNAct` of its own type so that :class:`~detreg.optim.repopt.RepOptimizerSGD`
    can find the 3x3 convs its masks belong to; ``fuse()`` folds the BN like any ConvBNAct.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        if kernel_size != 3:
            raise ValueError(f"RepOptBlock needs kernel_size 3, got {kernel_size}")
        super().__init__(in_channels, out_channels, 3, stride, act="relu")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    @property
    def has_identity(self) -> bool:
        """Whether the multi-branch block it stands for has an identity branch."""
        return self.in_channels == self.out_channels and self.stride == 1
