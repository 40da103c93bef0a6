"""Varifocal loss (VarifocalNet), computed in fp32."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from detreg.registry import LOSSES


@LOSSES.register()
class VarifocalLoss(nn.Module):
    """Sum over all anchors and classes of BCE(p, q) * w, w = alpha*p^gamma*(1 - y) + q*y.

    ``y`` is the one-hot foreground label, ``q`` the soft target score (IoU-aware), ``p``
    the predicted probability. With ``from_logits`` (default) the input is the logit and
    the BCE is taken in its stable logits form; otherwise it is p itself (YOLOv6 passes
    sigmoid scores). The weight is not detached (as in YOLOv6). Autocast is switched off.
    """

    def __init__(self, alpha: float = 0.75, gamma: float = 2.0, from_logits: bool = True) -> None:
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma
        self.from_logits = from_logits

    def forward(
        self, pred: Tensor, target_score: Tensor, label: Tensor, neg_weight: Tensor | None = None
    ) -> Tensor:
        """``pred``, ``target_score``, ``label``: same shape ``[..., C]`` -> scalar sum.

        ``neg_weight`` (broadcast against ``pred``, e.g. one weight per anchor ``[B, A, 1]``)
        scales the background term ``alpha*p^gamma*(1 - y)``: 0 leaves an anchor's classes
        out of the background loss (semi-supervised training: where the teacher is unsure)."""
        with torch.autocast(pred.device.type, enabled=False):
            x, q, y = pred.float(), target_score.float(), label.float()
            if self.from_logits:
                p = x.sigmoid()
                bce = F.binary_cross_entropy_with_logits(x, q, reduction="none")
            else:
                p = x
                bce = F.binary_cross_entropy(x, q, reduction="none")
            neg = self.alpha * p.pow(self.gamma) * (1 - y)
            if neg_weight is not None:
                neg = neg * neg_weight.float()
            weight = neg + q * y
            return (bce * weight).sum()
