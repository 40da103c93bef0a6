"""``ModelEMA``: an exponential moving average of a model's weights and buffers.

One class serves every averaged model: the evaluation EMA of ``EMAHook`` (YOLOv6's ramp,
decay 0.9999, tau 2000) and a semi-supervised teacher (its own decay; ``tau=0`` for a
constant decay), both averaging parameters *and* BN running statistics of the student.
"""

from __future__ import annotations

import math
from copy import deepcopy
from typing import Any

import torch
from torch import nn


def ema_decay(updates: int, decay: float = 0.9999, tau: float = 2000.0) -> float:
    """YOLOv6's ramp ``d(u) = decay * (1 - exp(-u / tau))`` (small early, -> decay).

    ``tau <= 0`` means no ramp: ``decay`` from the first update (a mean-teacher EMA).
    """
    if tau <= 0:
        return decay
    return decay * (1 - math.exp(-updates / tau))


class ModelEMA:
    """FP32 moving average of every floating entry of a model's ``state_dict``.

    ``module`` is a deep copy of the model in eval mode without gradients. Each
    :meth:`update` increments ``updates`` and sets ``e = d * e + (1 - d) * m`` with
    ``d = ema_decay(updates)`` for floating-point entries (parameters and BN running
    stats); other entries (``num_batches_tracked``) are copied. Pass the bare model
    (unwrap DDP first); its state_dict keys must match the copy's.
    """

    def __init__(
        self, model: nn.Module, decay: float = 0.9999, tau: float = 2000.0, updates: int = 0
    ) -> None:
        self.module = deepcopy(model).float().eval()
        self.module.requires_grad_(False)
        self.decay = decay
        self.tau = tau
        self.updates = updates

    def current_decay(self) -> float:
        """The decay the next :meth:`update` will use."""
        return ema_decay(self.updates + 1, self.decay, self.tau)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold ``model``'s current weights into the average.

        Uses grouped ``torch._foreach_*`` kernels (one call per dtype/device group instead
        of two per tensor); the arithmetic, ``e * d + (1 - d) * m``, is the same.
        """
        d = self.current_decay()
        self.updates += 1
        src = model.state_dict()
        ema_f: dict[tuple, list[torch.Tensor]] = {}
        src_f: dict[tuple, list[torch.Tensor]] = {}
        ema_o: list[torch.Tensor] = []
        src_o: list[torch.Tensor] = []
        for key, e in self.module.state_dict().items():
            m = src[key].detach()
            if e.is_floating_point():
                group = (e.device, e.dtype)
                ema_f.setdefault(group, []).append(e)
                src_f.setdefault(group, []).append(m if m.dtype == e.dtype else m.to(e.dtype))
            elif m.dtype == e.dtype and m.device == e.device and m.shape == e.shape:
                ema_o.append(e)
                src_o.append(m)
            else:
                e.copy_(m)
        for group, es in ema_f.items():
            torch._foreach_mul_(es, d)
            torch._foreach_add_(es, src_f[group], alpha=1 - d)
        if ema_o:
            torch._foreach_copy_(ema_o, src_o)

    def state_dict(self) -> dict[str, Any]:
        """``{"module": averaged state_dict, "updates": int}`` (plain, weights_only-loadable)."""
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the averaged weights (strict) and the update count."""
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
