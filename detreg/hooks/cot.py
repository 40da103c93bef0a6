"""CoTHook: label co-tuning (You et al., 2020) for a one-stage YOLOv6 head.

Fine-tuning to new classes throws away the pretrained class predictor, and with it what the
model knew about its source classes. Co-tuning keeps it: before training, the source class
branch runs over the target training set and, at the anchors the loss assigns to each
target box, gives a distribution over the source classes; averaged per target class this
is the relationship ``R[t, s] = p(source s | target t)`` (rows sum to 1). During training,
next to the normal loss on the new head, every assigned anchor also trains the features
through the kept source predictor towards its target class's row:
``weight * mean CE(R[target class], log_softmax(scale * source logits))``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from detreg.engine.checkpoint import checkpoint_classes, class_predictor_prefixes, load_checkpoint
from detreg.engine.hook import Hook, RunnerContract
from detreg.errors import DetregError
from detreg.hooks.pretrained import pretrained_state
from detreg.registry import HOOKS, Range


def source_predictor(state: dict[str, Tensor]) -> nn.ModuleList:
    """A frozen copy of a class predictor from its state (``{"0.weight", "0.bias", ...}``: one
    convolution per level, as ``head.cls_preds`` has)."""
    levels = sorted({int(k.split(".")[0]) for k in state})
    if not levels or levels != list(range(len(levels))):
        raise DetregError(f"the class predictor state holds no per-level convolutions ({sorted(state)[:3]})")
    convs = nn.ModuleList()
    for i in levels:
        w = state[f"{i}.weight"]
        if w.ndim != 4:
            raise DetregError(
                f"the class predictor of level {i} is not a convolution (weight {list(w.shape)})"
            )
        k = tuple(w.shape[2:])
        convs.append(nn.Conv2d(w.shape[1], w.shape[0], k, padding=(k[0] // 2, k[1] // 2)))
    convs.load_state_dict(state)
    convs.requires_grad_(False)
    return convs.eval()


def relationship_from(sums: Tensor, counts: Tensor) -> Tensor:
    """``R = sums / counts`` per row; a target class no anchor was assigned to gets the
    uniform row. Rows sum to 1 when the summed rows do (softmax outputs)."""
    rel = sums / counts.clamp(min=1).unsqueeze(1)
    empty = counts == 0
    rel[empty] = 1.0 / sums.shape[1]
    return rel


@HOOKS.register()
class CoTHook(Hook):
    """Label co-tuning with the pretrained class predictor (priority 7; needs ``train.pretrained``).

    ``before_train``: a frozen copy of the source class predictor (``head.cls_preds`` of the
    pretrained weights) is kept outside the model, and one pass over the training loader,
    the model in eval mode, gives the relationship matrix ``R [target classes, source
    classes]``: the mean of ``softmax(scale * source logits)`` over the anchors the loss
    assigns to boxes of each target class (uniform for a class that got none). During
    training (``after_forward``) the loss term ``cot = weight * mean over assigned anchors of
    -sum_s R[t, s] * log_softmax(scale * source logits)_s`` is added; it reaches the shared
    features (backbone, neck, head stems and class branch), not the frozen source predictor,
    whose logits must keep meaning what ``R`` was measured with.

    Needs a model whose raw training outputs hold ``cls_feats`` and ``assign`` (a detreg
    ``Detector`` with ``YOLOv6Loss``). ``R`` and the source predictor are the hook's
    checkpoint state (``checkpoint["hooks"][<name>]``), not part of the model's weights: a
    resumed run continues exactly without the pretrained file, and the trained model stays
    a plain detector of the target classes.

    Args:
        pretrained: the source weights (from ``train.pretrained``).
        weight: lambda, the weight of the co-tuning term.
        scale: the temperature-like factor on the source logits (PaddleDetection's cot_scale).
        max_batches: at most this many training batches for ``R`` (None: one full pass).
        prefer_ema: take the EMA weights of the checkpoint when present.
    """

    priority = 7

    def __init__(
        self,
        pretrained: str | Path,
        weight: Annotated[float, Range(min=0)] = 1.0,
        scale: Annotated[float, Range(min=0, min_open=True)] = 1.0,
        max_batches: Annotated[int, Range(min=1)] | None = None,
        prefer_ema: bool = True,
    ) -> None:
        self.pretrained = str(pretrained)
        self.weight = float(weight)
        self.scale = float(scale)
        self.max_batches = max_batches
        self.prefer_ema = prefer_ema
        self.source: nn.ModuleList | None = None
        self.relationship: Tensor | None = None
        self.counts: Tensor | None = None
        self.source_names: list[str] | None = None

    # ------------------------------------------------------------------ events
    def before_train(self, runner: RunnerContract) -> None:
        """Keep the source predictor and learn the relationship (not when resuming)."""
        if runner.resume_from is not None:
            return  # load_state_dict restores both
        model = runner.unwrapped_model
        prefixes = class_predictor_prefixes(model)
        if not prefixes:
            raise DetregError("CoTHook: the model has no class predictor (a head with CLASS_PREDICTORS)")
        prefix = prefixes[0] + "."
        ckpt = load_checkpoint(self.pretrained)
        state = pretrained_state(ckpt, self.prefer_ema)
        _, self.source_names = checkpoint_classes(ckpt, state, None)
        src = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if not src:
            raise DetregError(f"CoTHook: {self.pretrained} has no {prefix}* tensors (no class predictor)")
        self.source = source_predictor(src).to(runner.device)
        sums, counts = self._accumulate(runner)
        self.relationship, self.counts = relationship_from(sums, counts).float(), counts
        self._log(runner)

    def after_forward(self, runner: RunnerContract) -> None:
        """Add the co-tuning term on this step's assigned anchors."""
        if self.source is None:  # a resume from a checkpoint of a run without co-tuning
            raise DetregError(
                "CoTHook: no co-tuning state (the run resumed from a checkpoint made without CoTHook); "
                "co-tuning starts with a fresh run from train.pretrained"
            )
        record = runner.step_record
        logits, labels = self._assigned(record.outputs, runner.device)
        if labels.numel() == 0:
            term = logits.sum() * 0.0  # no positives: still one term on every rank
        else:
            if self.relationship.device != labels.device:
                self.relationship = self.relationship.to(labels.device)
            target = self.relationship[labels]
            term = -(target * F.log_softmax(self.scale * logits.float(), -1)).sum(-1).mean()
        record.add_loss("cot", self.weight * term)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The relationship matrix, the per-class anchor counts and the source predictor."""
        if self.source is None:
            return {}
        return {
            "relationship": self.relationship.detach().cpu(),
            "counts": self.counts.detach().cpu(),
            "source": {k: v.detach().cpu() for k, v in self.source.state_dict().items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (moved to the device at the next step)."""
        if not state:
            raise DetregError("CoTHook: the checkpoint holds no co-tuning state to resume from")
        self.source = source_predictor(state["source"])
        self.relationship = state["relationship"].float()
        self.counts = state["counts"]

    # ------------------------------------------------------------------ helpers
    def _assigned(self, outputs: dict[str, Any] | None, device: torch.device) -> tuple[Tensor, Tensor]:
        """Source logits ``[n, S]`` at the assigned anchors of a forward, and their target classes."""
        if not outputs or "cls_feats" not in outputs or "assign" not in outputs:
            raise DetregError(
                "CoTHook needs the model's raw outputs with 'cls_feats' and 'assign' (a detreg Detector "
                "whose loss takes return_assign, such as YOLOv6Loss)"
            )
        if self.source[0].weight.device != torch.device(device):
            self.source.to(device)
        feats = outputs["cls_feats"]
        if len(feats) != len(self.source):
            raise DetregError(
                f"CoTHook: the source predictor has {len(self.source)} levels, the head {len(feats)}"
            )
        logits = torch.cat([conv(f).flatten(2).transpose(1, 2) for conv, f in zip(self.source, feats)], 1)
        assign = outputs["assign"]
        fg = assign.fg_mask
        return logits[fg], assign.labels[fg]

    @torch.no_grad()
    def _accumulate(self, runner: RunnerContract) -> tuple[Tensor, Tensor]:
        """Sum of ``softmax(scale * source logits)`` and anchor count per target class, over
        the training loader (all ranks together), the model in eval mode."""
        model = runner.unwrapped_model
        nc = int(model.num_classes)
        ns = self.source[0].out_channels
        sums = torch.zeros(nc, ns, dtype=torch.float64, device=runner.device)
        counts = torch.zeros(nc, dtype=torch.float64, device=runner.device)
        modes = {m: m.training for m in model.modules()}
        model.eval()
        try:
            for i, batch in enumerate(runner.train_loader):
                if self.max_batches is not None and i >= self.max_batches:
                    break
                images = batch["img"].to(runner.device).float().div_(255.0)
                targets = batch["targets"].to(runner.device)
                _, outputs = model(images, targets, epoch=runner.epoch, return_outputs=True)
                logits, labels = self._assigned(outputs, runner.device)
                sums.index_add_(0, labels, F.softmax(self.scale * logits.double(), -1))
                counts += torch.bincount(labels, minlength=nc).to(counts.dtype)
        finally:
            for m, mode in modes.items():
                m.train(mode)
        if runner.world_size > 1:
            torch.distributed.all_reduce(sums)
            torch.distributed.all_reduce(counts)
        return sums, counts

    def _log(self, runner: RunnerContract) -> None:
        """One line per target class: its anchors and most related source classes."""
        names = list(runner.context.get("class_names") or [])
        src = list(self.source_names or [])
        missing = [i for i, c in enumerate(self.counts.tolist()) if c == 0]
        top = self.relationship.topk(min(3, self.relationship.shape[1]), dim=1)
        lines = [f"co-tuning: relationship over {self.relationship.shape[1]} source classes"]
        for t in range(self.relationship.shape[0]):
            name = names[t] if t < len(names) else str(t)
            best = ", ".join(
                f"{src[s] if s < len(src) else s} {p:.2f}"
                for p, s in zip(top.values[t].tolist(), top.indices[t].tolist())
            )
            lines.append(f"  {name} ({int(self.counts[t])} anchors): {best}")
        runner.logger.info("%s", "\n".join(lines))
        if missing:
            shown = ", ".join(names[i] if i < len(names) else str(i) for i in missing)
            runner.logger.warning(
                "co-tuning: no anchor assigned to %s in the training set: uniform rows", shown
            )
