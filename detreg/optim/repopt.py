"""RepOptimizer: SGD with fixed gradient masks that make plain 3x3 blocks train like RepVGG.

Ding et al. 2022 ("Re-parameterizing Your Optimizers rather than Architectures"), as
YOLOv6 does it (``RepVGGOptimizer``). A multi-branch linear block

    W = s3 * K3 + s1 * pad(K1) + pad(diag(d))    (s3, s1 constant per output channel;
                                                  K3, K1 and the identity scales d trained)

trained by SGD changes its equivalent kernel by ``-lr * M * dL/dW`` with
``M = s3^2`` everywhere, ``+ s1^2`` at the kernel centre and ``+ 1`` at the centre of the
diagonal (the identity branch). So a plain conv whose gradient is multiplied by ``M``
before the SGD update follows the same trajectory (momentum and Nesterov included: they
are linear). ``tests/optim/test_repopt.py`` proves it. Weight decay is applied to the plain
weight after masking (YOLOv6's choice; with decay the two are no longer exactly equal),
and gradient clipping breaks the equivalence (the norm is taken before the mask).

The scales ``s3, s1`` (and the identity scales, used only to initialise) come from a
``block: hyper_search`` run (:mod:`detreg.optim.repopt_scales`).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from detreg.models.layers.repopt import RepOptBlock
from detreg.optim.optimizers import Fraction, NonNegativeFloat, PositiveFloat, build_grouped, resolve_hyper
from detreg.optim.param_groups import is_norm_layer
from detreg.optim.repopt_scales import BlockScales, load_scales
from detreg.registry import OPTIMIZERS, forwards_kwargs


def gradient_mask(weight: Tensor, scales: BlockScales) -> Tensor:
    """The fixed gradient multiplier ``M`` of a ``[out, in, 3, 3]`` kernel (see the module doc).

    Built on ``weight``'s device, in its dtype (at least float32).
    """
    out_c, in_c = weight.shape[:2]
    if tuple(weight.shape[2:]) != (3, 3) or scales.channels != out_c:
        shape = tuple(weight.shape)
        raise ValueError(f"scales for {scales.channels} channels do not fit a kernel of shape {shape}")
    dtype = torch.promote_types(weight.dtype, torch.float32)
    s3 = scales.conv3x3.to(weight.device, dtype).view(-1, 1, 1, 1)
    s1 = scales.conv1x1.to(weight.device, dtype).view(-1, 1)
    mask = (s3**2).expand(out_c, in_c, 3, 3).clone()
    mask[:, :, 1, 1] += s1**2
    if scales.identity is not None:
        if in_c != out_c:
            shape = tuple(weight.shape)
            raise ValueError(f"an identity branch needs in == out channels, got a kernel {shape}")
        idx = torch.arange(out_c, device=weight.device)
        mask[idx, idx, 1, 1] += 1.0
    return mask


@torch.no_grad()
def scaled_init(weight: Tensor, scales: BlockScales) -> Tensor:
    """The kernel of a freshly initialised multi-branch block with these scales.

    ``s3 * weight + s1 * pad(K1) + pad(diag(identity scales))``, ``K1`` a new 1x1 kernel
    drawn as ``nn.Conv2d`` draws it (YOLOv6's ``reinitialize``).
    """
    out_c, in_c = weight.shape[:2]
    k1 = torch.empty(out_c, in_c, 1, 1, dtype=weight.dtype, device=weight.device)
    nn.init.kaiming_uniform_(k1, a=math.sqrt(5))
    s3 = scales.conv3x3.to(weight).view(-1, 1, 1, 1)
    s1 = scales.conv1x1.to(weight).view(-1, 1, 1, 1)
    kernel = weight * s3
    kernel[:, :, 1:2, 1:2] += k1 * s1
    if scales.identity is not None:
        idx = torch.arange(out_c, device=weight.device)
        kernel[idx, idx, 1, 1] += scales.identity.to(weight)
    return kernel


def repopt_blocks(model: nn.Module) -> dict[str, RepOptBlock]:
    """Every :class:`RepOptBlock` of ``model``, by module name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, RepOptBlock)}


def match_scales(
    model: nn.Module, scales: Mapping[str, BlockScales], where: str = "scales"
) -> dict[str, tuple[RepOptBlock, BlockScales]]:
    """``{block name: (block, its scales)}``; ValueError when the file does not fit the model.

    Every ``RepOptBlock`` needs scales of its width (and an identity scale exactly when it
    has an identity branch), and every scales entry needs a block.
    """
    blocks = repopt_blocks(model)
    if not blocks:
        raise ValueError("the model has no RepOpt blocks (set block: repopt in the backbone and neck)")
    missing = sorted(set(blocks) - set(scales))
    extra = sorted(set(scales) - set(blocks))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"no scales for {len(missing)} block(s), e.g. {missing[0]}")
        if extra:
            parts.append(f"scales for {len(extra)} block(s) the model lacks, e.g. {extra[0]}")
        raise ValueError(
            f"{where} does not fit this model: {'; '.join(parts)} (was it extracted from a "
            "hyper_search run of the same architecture?)"
        )
    matched = {}
    for name, block in blocks.items():
        s = scales[name]
        w = block.conv.weight
        if s.channels != w.shape[0] or (s.identity is not None) != block.has_identity:
            raise ValueError(
                f"{where}: block '{name}' has {w.shape[0]} channels (identity: {block.has_identity}) but "
                f"its scales have {s.channels} (identity: {s.identity is not None})"
            )
        matched[name] = (block, s)
    return matched


def looks_untrained(model: nn.Module) -> bool:
    """True while every norm layer still has its initial affine (weight 1, bias 0).

    Weights loaded before the optimizer is built (``LoadWeightsHook``) make it False.
    """
    for m in model.modules():
        if is_norm_layer(m) and getattr(m, "weight", None) is not None:
            if not (bool((m.weight == 1).all()) and (m.bias is None or bool((m.bias == 0).all()))):
                return False
    return True


class RepOptimizerSGD(torch.optim.SGD):
    """``torch.optim.SGD`` that multiplies each listed weight's gradient by its fixed mask first.

    ``grad_scales`` maps a 3x3 conv weight (the parameter object) to its block's scales.
    The masks are built at the first ``step()``, on each weight's device, keyed by
    parameter: so the optimizer may be built before the model is moved, and whatever
    replaced modules before the optimizer was built (model surgery at ``configure_model``)
    is what gets masked. Closures are not supported (the mask must see the gradients).
    """

    def __init__(
        self, params: Iterable[Any], grad_scales: Mapping[nn.Parameter, BlockScales], **sgd: Any
    ) -> None:
        super().__init__(params, **sgd)
        owned = {p for g in self.param_groups for p in g["params"]}
        stray = [p for p in grad_scales if p not in owned]
        if stray:
            raise ValueError(f"{len(stray)} masked weight(s) are not among the optimizer's parameters")
        self.grad_scales = dict(grad_scales)
        self.masks: dict[nn.Parameter, Tensor] = {}
        self.register_step_pre_hook(RepOptimizerSGD._mask_gradients)

    def build_masks(self) -> dict[nn.Parameter, Tensor]:
        """Build (or move) every mask onto its weight's device; return them."""
        for p, s in self.grad_scales.items():
            m = self.masks.get(p)
            if m is None or m.device != p.device:
                self.masks[p] = gradient_mask(p, s)
        return self.masks

    @staticmethod
    def _mask_gradients(opt: RepOptimizerSGD, args: tuple, kwargs: dict) -> None:
        if args[1:] or kwargs.get("closure") is not None:
            raise ValueError("RepOptimizerSGD.step takes no closure (the masks must see the gradients)")
        masks = opt.build_masks()
        pairs = [(p.grad, m) for p, m in masks.items() if p.grad is not None]
        if pairs:
            grads, ms = zip(*pairs)
            torch._foreach_mul_(list(grads), [m.to(g.dtype) for g, m in zip(grads, ms)])


@OPTIMIZERS.register()
@forwards_kwargs(resolve_hyper)
def RepOptSGD(
    model: nn.Module,
    scales: str,
    lr: PositiveFloat = 0.01,
    momentum: Fraction = 0.937,
    weight_decay: NonNegativeFloat = 5e-4,
    nesterov: bool = True,
    reinit: bool = True,
    **scaling: Any,
) -> torch.optim.Optimizer:
    """YOLOv6's RepOpt SGD for a ``block: repopt`` model, over the usual three param groups.

    Args:
        scales: the file ``detreg repopt-scales`` wrote from a ``block: hyper_search`` run.
        reinit: initialise each RepOpt 3x3 kernel as the equivalent multi-branch block's
            (:func:`scaled_init`) when training from scratch; weights loaded before the
            optimizer is built (any norm layer off its initial affine) are left alone.
        lr, momentum, weight_decay, nesterov and the batch-size scaling: as ``SGD``.
    """
    matched = match_scales(model, load_scales(scales), f"optimizer.scales ({scales})")
    log = logging.getLogger("detreg")
    if reinit and looks_untrained(model):
        with torch.no_grad():
            for block, s in matched.values():
                block.conv.weight.copy_(scaled_init(block.conv.weight, s))
        log.info("RepOptSGD: %d blocks initialised from the scales in %s", len(matched), scales)
    elif reinit:
        log.info("RepOptSGD: weights were loaded, so the scales only set the gradient masks")
    lr, weight_decay = resolve_hyper(lr, weight_decay, **scaling)
    grad_scales = {b.conv.weight: s for b, s in matched.values()}
    factory = functools.partial(RepOptimizerSGD, grad_scales=grad_scales)
    return build_grouped(factory, model, lr, weight_decay, momentum, momentum=momentum, nesterov=nesterov)
