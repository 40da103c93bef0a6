"""Distribution focal loss (GFL) for ltrb distances predicted as discrete distributions."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from detreg.registry import LOSSES


@LOSSES.register("DFLoss", aliases=("DistributionFocalLoss",))
class DFLoss(nn.Module):
    """Cross-entropy towards the two bins around a fractional target, linearly weighted.

    For target t (clipped to ``[0, reg_max - 0.01]``), l = floor(t), r = l + 1:
    loss = CE(d, l)*(r - t) + CE(d, r)*(t - l), averaged over the 4 sides of a box.
    """

    def forward(self, pred_dist: Tensor, target: Tensor) -> Tensor:
        """``pred_dist [..., 4, reg_max+1]`` logits (or ``[..., 4*(reg_max+1)]``), ``target
        [..., 4]`` in bin units -> per-box loss ``[...]``."""
        if pred_dist.dim() == target.dim():  # flat [..., 4*(reg_max+1)]
            pred_dist = pred_dist.reshape(*target.shape, -1)
        bins = pred_dist.shape[-1]
        if bins < 2:
            raise ValueError("DFLoss needs reg_max >= 1 (at least 2 bins per side)")
        t = target.float().clamp(0, bins - 1 - 0.01)
        left = t.long()
        w_left = (left + 1).float() - t
        logp = F.log_softmax(pred_dist.float(), -1)
        ce_left = -logp.gather(-1, left[..., None])[..., 0]
        ce_right = -logp.gather(-1, (left + 1)[..., None])[..., 0]
        return (ce_left * w_left + ce_right * (1 - w_left)).mean(-1)
