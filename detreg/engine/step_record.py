"""``StepRecord``: what one training step's forward produced, open to hooks before backward.

The train step fills it after the forward pass and fires ``after_forward`` (inside the same
autocast region); hooks read the images, targets and the model's raw outputs (per-level
neck features, class logits, box distributions for a detreg ``Detector``) and add loss
terms. The step backpropagates ``total_loss()`` and logs each term under its own name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor


@dataclass
class StepRecord:
    """One step's forward record.

    Attributes:
        images: the float input batch ``[B, 3, H, W]`` in ``[0, 1]``.
        targets: the ``[N, 6]`` targets (image index, class, cx, cy, w, h normalised).
        outputs: the model's raw training outputs (the head dict: ``feats`` per level,
            ``cls`` logits, ``reg`` box distributions, ``strides``, ``cls_feats`` the class
            branch's features per level; and ``assign``, the loss's
            :class:`~detreg.assigners.common.AssignResult`: ``fg_mask [B, A]`` which anchors
            are positive, ``labels [B, A]`` their target class, ``gt_idx [B, A]`` their
            target box), or None when the model does not give them (it has no
            ``return_outputs`` argument).
        losses: the model's loss dict (``loss`` with its graph, plus detached parts).
        terms: extra loss terms added by hooks (name -> scalar tensor with its graph).
    """

    images: Tensor
    targets: Tensor
    outputs: dict[str, Any] | None
    losses: dict[str, Any]
    terms: dict[str, Tensor] = field(default_factory=dict)

    def add_loss(self, name: str, value: Tensor) -> None:
        """Add ``value`` (a one-element tensor) to the loss that is backpropagated.

        ``name`` is how it is logged (progress, metrics.jsonl, TensorBoard); it must not
        clash with the model's loss keys or another term. Every rank must add the same
        names (the logged values are averaged over ranks).
        """
        if name in self.losses or name in self.terms:
            raise ValueError(f"loss term '{name}' already exists in this step ({sorted(self.losses)})")
        if not torch.is_tensor(value) or value.numel() != 1:
            raise TypeError(f"loss term '{name}' must be a one-element tensor, got {value!r}")
        self.terms[name] = value.reshape(())

    def total_loss(self) -> Tensor:
        """The model's ``loss`` plus every added term (the model's alone when none)."""
        loss = self.losses["loss"]
        for term in self.terms.values():
            loss = loss + term
        return loss

    def scalars(self) -> dict[str, float]:
        """Everything to log: the model's loss dict with ``loss`` as the total, then each term."""
        out = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in self.losses.items()}
        for name, term in self.terms.items():
            out[name] = float(term.detach())
        if self.terms:
            out["loss"] = float(self.total_loss().detach())
        return out
