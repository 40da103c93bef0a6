"""Distribution focal loss decoding: expected distance from ``reg_max + 1`` bin logits."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DFLDecode(nn.Module):
    """Map ``[..., 4*(reg_max+1)]`` bin logits to ``[..., 4]`` distances (softmax expectation).

    With ``reg_max == 0`` the input already holds the 4 distances and is returned unchanged.
    """

    def __init__(self, reg_max: int = 16) -> None:
        super().__init__()
        self.reg_max = reg_max
        self.register_buffer("proj", torch.arange(reg_max + 1, dtype=torch.float32), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """Expected bin index per side."""
        if self.reg_max == 0:
            return x
        prob = x.reshape(*x.shape[:-1], 4, self.reg_max + 1).softmax(-1)
        return (prob * self.proj.to(prob.dtype)).sum(-1)
