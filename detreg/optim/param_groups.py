"""YOLOv6's three parameter groups: norm weights, other weights, biases."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

#: Module types whose ``weight`` is a normalisation scale (never weight-decayed).
NORM_TYPES: tuple[type[nn.Module], ...] = tuple(
    t
    for t in (
        nn.modules.batchnorm._NormBase,  # BatchNorm*, SyncBatchNorm, InstanceNorm*
        nn.GroupNorm,
        nn.LayerNorm,
        getattr(nn, "RMSNorm", None),
    )
    if t is not None
)


class ParamGroups(NamedTuple):
    """Parameters split the YOLOv6 way (each list without duplicates)."""

    norm: list[nn.Parameter]  # g0: weights of normalisation layers, no weight decay
    weight: list[nn.Parameter]  # g1: every other parameter, weight decay
    bias: list[nn.Parameter]  # g2: biases, no weight decay


def is_norm_layer(module: nn.Module) -> bool:
    """True for BatchNorm/SyncBatchNorm/InstanceNorm, GroupNorm, LayerNorm (and RMSNorm)."""
    return isinstance(module, NORM_TYPES)


def split_param_groups(model: nn.Module) -> ParamGroups:
    """Split every parameter of ``model`` into YOLOv6's groups g0/g1/g2.

    A parameter named ``bias`` goes to g2 (any module, norm layers included); the other
    parameters of a norm layer go to g0; everything else (conv/linear weights and any
    custom parameter such as a learnable scale) goes to g1. Unlike YOLOv6, parameters
    named neither ``weight`` nor ``bias`` are not dropped. Frozen parameters are kept
    (the optimizer skips them while they have no gradient), so unfreezing later works.
    A parameter shared between modules is listed once.
    """
    groups = ParamGroups([], [], [])
    seen: set[int] = set()
    for module in model.modules():
        norm = is_norm_layer(module)
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            if name == "bias":
                groups.bias.append(param)
            elif norm:
                groups.norm.append(param)
            else:
                groups.weight.append(param)
    return groups


def add_module_param_groups(optimizer: torch.optim.Optimizer, module: nn.Module, owner: str) -> int:
    """Add ``module``'s parameters to a built ``optimizer``, split like the model's.

    Each non-empty kind (norm/weight/bias) becomes a new group that copies every setting
    (lr, weight decay, ``name``, ``initial_lr``...) of the optimizer's group of the same
    ``name`` (its first group when none is named so), so warmup and the lr schedule treat
    it exactly as the model's; ``owner`` tags it. Call before the scheduler is built.
    Returns the number of groups added.
    """
    named = {g.get("name"): g for g in optimizer.param_groups}
    added = 0
    for kind, params in zip(ParamGroups._fields, split_param_groups(module)):
        if not params:
            continue
        like = named.get(kind, optimizer.param_groups[0])
        group = {k: v for k, v in like.items() if k != "params"}
        group.update(params=params, owner=owner)
        optimizer.add_param_group(group)
        added += 1
    return added
