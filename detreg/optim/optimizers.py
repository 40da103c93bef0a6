"""Optimizer builders (``OPTIMIZERS``): SGD, Adam, AdamW over YOLOv6's parameter groups.

Each builder is called by the runner as ``OPTIMIZERS.build(cfg, model=model, context=ctx)``
and returns a plain ``torch.optim.Optimizer`` with three param groups, always in this
order and tagged with ``group["name"]``:

- ``"norm"`` (g0): normalisation-layer weights, no weight decay;
- ``"weight"`` (g1): all other weights, weight decay;
- ``"bias"`` (g2): biases, no weight decay (the warmup hook gives them ``warmup_bias_lr``).

Every group also carries ``initial_lr`` (the scaled lr) and ``initial_momentum`` (the
momentum, or Adam's ``beta1``), which the warmup hook interpolates towards.

Batch-size scaling (YOLOv6 defaults, each switchable; ``batch_size`` is the *total*
batch over all processes and comes from the run context; without it nothing is scaled):

- ``scale_weight_decay``: ``wd *= bs * accumulate / nominal_batch_size`` with
  ``accumulate = max(1, round(nominal_batch_size / bs))``.
- ``scale_lr``: ``lr *= bs / (world_size * bs_per_gpu)``; ``world_size`` from the run
  context when offered, else from torch.distributed (1 when not initialised).
- ``auto`` (the default of both ``nominal_batch_size`` and ``scale_lr``): YOLOv6's values
  in runs of at least 10,000 iterations; in shorter ones no accumulation and no scaling
  down of lr (:mod:`detreg.optim.recipe`; ``epochs`` and ``iters_per_epoch`` come from the
  run context).

Gradient accumulation itself is not the optimizer's business: the train step reads
``runner.accumulate``, which the warmup hook sets (see ``detreg.hooks.warmup``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import torch
from torch import nn

from detreg.optim import recipe
from detreg.optim.param_groups import split_param_groups
from detreg.optim.scaling import scaled_weight_decay
from detreg.optim.scaling import world_size as _dist_world_size
from detreg.registry import OPTIMIZERS, Range, forwards_kwargs

GROUP_NAMES: tuple[str, str, str] = ("norm", "weight", "bias")

PositiveFloat = Annotated[float, Range(min=0, min_open=True)]
NonNegativeFloat = Annotated[float, Range(min=0)]
Fraction = Annotated[float, Range(min=0, max=1, max_open=True)]  # momentum, betas


def resolve_hyper(
    lr: float,
    weight_decay: float,
    batch_size: int | None = None,
    nominal_batch_size: Annotated[int, Range(min=1)] | recipe.Auto = "auto",
    scale_weight_decay: bool = True,
    scale_lr: bool | recipe.Auto = "auto",
    bs_per_gpu: Annotated[int, Range(min=1)] = 32,
    world_size: int | None = None,
    epochs: int | None = None,
    iters_per_epoch: int | None = None,
) -> tuple[float, float]:
    """``(lr, weight_decay)`` after the YOLOv6 batch-size scaling that is switched on.

    Its keyword arguments are the batch-size scaling options every optimizer builder
    accepts (they reach it through the builder's ``**scaling``).
    """
    if batch_size is None:
        return lr, weight_decay
    if scale_weight_decay:
        nominal = recipe.nominal_batch_size(nominal_batch_size, batch_size, epochs, iters_per_epoch)
        weight_decay = scaled_weight_decay(weight_decay, batch_size, nominal)  # type: ignore[arg-type]
    n = world_size if world_size is not None else _dist_world_size()
    lr = lr * recipe.lr_scale(scale_lr, batch_size, bs_per_gpu, n, epochs, iters_per_epoch)
    return lr, weight_decay


def build_grouped(
    factory: Callable[..., torch.optim.Optimizer],
    model: nn.Module,
    lr: float,
    weight_decay: float,
    initial_momentum: float,
    **kwargs: Any,
) -> torch.optim.Optimizer:
    """``factory(groups, lr=lr, weight_decay=0, **kwargs)`` with YOLOv6's three groups.

    Only the ``"weight"`` group gets ``weight_decay``. Each group gets ``name``,
    ``initial_lr`` and ``initial_momentum`` (momentum or beta1, the warmup's target).
    """
    split = split_param_groups(model)
    groups = [
        {"params": params, "name": name, "weight_decay": weight_decay if name == "weight" else 0.0}
        for name, params in zip(GROUP_NAMES, split)
    ]
    if not any(g["params"] for g in groups):
        raise ValueError("the model has no parameters to optimize")
    optimizer = factory(groups, lr=lr, weight_decay=0.0, **kwargs)
    for group in optimizer.param_groups:
        group["initial_lr"] = lr
        group["initial_momentum"] = initial_momentum
    return optimizer


@OPTIMIZERS.register()
@forwards_kwargs(resolve_hyper)
def SGD(
    model: nn.Module,
    lr: PositiveFloat = 0.01,
    momentum: Fraction = 0.937,
    weight_decay: NonNegativeFloat = 5e-4,
    nesterov: bool = True,
    **scaling: Any,
) -> torch.optim.Optimizer:
    """YOLOv6's SGD (nesterov) over norm/weight/bias groups, with batch-size scaling."""
    lr, weight_decay = resolve_hyper(lr, weight_decay, **scaling)
    return build_grouped(
        torch.optim.SGD, model, lr, weight_decay, momentum, momentum=momentum, nesterov=nesterov
    )


@OPTIMIZERS.register()
@forwards_kwargs(resolve_hyper)
def Adam(
    model: nn.Module,
    lr: PositiveFloat = 0.001,
    momentum: Fraction = 0.937,
    weight_decay: NonNegativeFloat = 5e-4,
    beta2: Fraction = 0.999,
    **scaling: Any,
) -> torch.optim.Optimizer:
    """YOLOv6's Adam: ``betas=(momentum, beta2)``, L2 weight decay on the weight group."""
    lr, weight_decay = resolve_hyper(lr, weight_decay, **scaling)
    return build_grouped(torch.optim.Adam, model, lr, weight_decay, momentum, betas=(momentum, beta2))


@OPTIMIZERS.register()
@forwards_kwargs(resolve_hyper)
def AdamW(
    model: nn.Module,
    lr: PositiveFloat = 0.001,
    momentum: Fraction = 0.9,
    weight_decay: NonNegativeFloat = 0.05,
    beta2: Fraction = 0.999,
    **scaling: Any,
) -> torch.optim.Optimizer:
    """AdamW (decoupled decay on the weight group only), ``betas=(momentum, beta2)``."""
    lr, weight_decay = resolve_hyper(lr, weight_decay, **scaling)
    return build_grouped(torch.optim.AdamW, model, lr, weight_decay, momentum, betas=(momentum, beta2))
