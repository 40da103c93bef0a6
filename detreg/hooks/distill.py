"""``DistillHook``: knowledge distillation from a frozen teacher (YOLOv6 self-distillation).

Switched on from the config alone::

    hooks:
      distill: {type: DistillHook, teacher: distill/yolov6n_dfl.yaml, teacher_weights: teacher.pt}

The teacher is built from its model config, loaded ``weights_only`` (shape-matched, one
line says what did not fit), frozen, kept in ``eval()`` (its BN statistics never change)
and run under ``torch.no_grad()`` inside the student's step, so under the same autocast.
It is held by the hook, not by the student: ``last.pt``/``best.pt`` hold the plain
student, the EMA averages the student alone, and a resume rebuilds the teacher from
``teacher_weights``. Per step it adds ``kd_cls``, ``kd_dfl`` and ``kd_feat`` (see
:mod:`detreg.losses.distill`), each times the epoch's distillation weight (cosine 1 ->
``final_weight``) and logged under its name; ``kd_weight`` logs that weight.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import torch

from detreg.engine.checkpoint import load_weights_reported
from detreg.engine.hook import Hook, RunnerContract
from detreg.errors import ConfigError, DetregError
from detreg.losses.distill import cwd_loss, distill_weight, kd_cls_loss, kd_dfl_loss
from detreg.models.connectors import FeatureConnectors
from detreg.models.teacher import freeze, teacher_model_config
from detreg.registry import HOOKS, MODELS, Range

NonNegative = Annotated[float, Range(min=0)]
Positive = Annotated[float, Range(min=0, min_open=True)]
TERMS = ("kd_cls", "kd_dfl", "kd_feat")


@HOOKS.register()
class DistillHook(Hook):
    """Distil a frozen teacher into the student (YOLOv6's defaults).

    Args:
        teacher: the teacher's model config (a mapping), or a config file whose ``model:``
            is taken (a path or a built-in config name, e.g. ``distill/yolov6s_dfl.yaml``).
        teacher_weights: the teacher's trained weights (a detreg ``.pt`` or a state dict).
        prefer_ema: load the checkpoint's EMA weights when it has them.
        temperature: T of the class-score and DFL KD (YOLOv6: 20).
        cls_weight: weight of ``kd_cls`` (YOLOv6: class loss weight 1.0 x distill 1.0).
        dfl_weight: weight of ``kd_dfl`` (YOLOv6: DFL loss weight 0.5 x distill 1.0); needs
            DFL (``use_dfl: true``, equal ``reg_max``) in both heads; 0 turns it off.
        feat_weight: weight of ``kd_feat``, channel-wise KD of the neck outputs (YOLOv6's
            ``--distill_feat``: 10); 0 turns it off.
        feat_temperature: tau of the channel-wise KD (1).
        cls_on: soften the sigmoid ``scores`` (YOLOv6) or the raw ``logits``.
        connectors: learned 1x1 conv + BN per level from the student's to the teacher's
            neck widths; ``null`` = only when the widths differ; ``false`` requires equal widths.
        decay: ``cosine`` (YOLOv6: from 1 at epoch 0 to ``final_weight`` at the end) or ``constant``.
        final_weight: where the cosine decay ends (0.01).
        stop_last_epochs: no distillation (and no teacher forward) in the last N epochs.
    """

    priority = 40

    def __init__(
        self,
        teacher: str | dict[str, Any],
        teacher_weights: str,
        prefer_ema: bool = True,
        temperature: Positive = 20.0,
        cls_weight: NonNegative = 1.0,
        dfl_weight: NonNegative = 0.5,
        feat_weight: NonNegative = 10.0,
        feat_temperature: Positive = 1.0,
        cls_on: Literal["scores", "logits"] = "scores",
        connectors: bool | None = None,
        decay: Literal["cosine", "constant"] = "cosine",
        final_weight: NonNegative = 0.01,
        stop_last_epochs: Annotated[int, Range(min=0)] = 0,
    ) -> None:
        self.teacher_cfg = {k: v for k, v in teacher_model_config(teacher).items() if k != "loss"}
        from detreg.config import CONTEXT_KEYS

        problems = MODELS.check(self.teacher_cfg, "teacher", set(CONTEXT_KEYS))
        if problems:
            raise ValueError("; ".join(problems))
        self.teacher_weights = teacher_weights
        self.prefer_ema = prefer_ema
        self.temperature, self.feat_temperature = temperature, feat_temperature
        self.cls_weight, self.dfl_weight, self.feat_weight = cls_weight, dfl_weight, feat_weight
        self.cls_on, self.use_connectors = cls_on, connectors
        self.decay, self.final_weight, self.stop_last_epochs = decay, final_weight, stop_last_epochs
        self.teacher: torch.nn.Module | None = None
        self.connectors: FeatureConnectors | None = None
        self._checked = False

    # ------------------------------------------------------------------ schedule
    def weight(self, epoch: int, epochs: int) -> float:
        """The distillation weight of ``epoch`` (0 in the last ``stop_last_epochs``)."""
        if self.stop_last_epochs > 0 and epoch >= epochs - self.stop_last_epochs:
            return 0.0
        return distill_weight(epoch, epochs, self.final_weight, self.decay)

    # ------------------------------------------------------------------ setup
    def before_run(self, runner: RunnerContract) -> None:
        """Config-level checks, before any data is read."""
        problem = _config_problem(runner.cfg.get("model"), self.teacher_cfg, self.dfl_weight > 0)
        if problem:
            raise ConfigError(f"hooks.distill: {problem}")

    def configure_model(self, runner: RunnerContract) -> None:
        """Build, load and freeze the teacher; build the connectors and have them trained."""
        teacher = MODELS.build(self.teacher_cfg, "hooks.distill.teacher", runner.context)
        if not callable(getattr(teacher, "raw_outputs", None)):
            raise ConfigError(f"hooks.distill.teacher: {type(teacher).__name__} has no raw_outputs(images)")
        load_weights_reported(
            teacher, self.teacher_weights, "distill: teacher", runner.logger, self.prefer_ema
        )
        self.teacher = freeze(teacher.to(runner.device))
        student = runner.unwrapped_model
        if self.dfl_weight > 0 and not _gives_assignment(getattr(student, "loss", None)):
            raise ConfigError(
                "hooks.distill: kd_dfl weighs anchors as the box loss does, which needs a loss that "
                "gives its assignment (return_assign, as YOLOv6Loss); set hooks.distill.dfl_weight=0"
            )
        if self.feat_weight > 0:
            s_ch = list(getattr(getattr(student, "head", None), "in_channels", []) or [])
            t_ch = list(getattr(teacher.head, "in_channels", []) or [])
            if not s_ch or len(s_ch) != len(t_ch):
                raise ConfigError(
                    f"hooks.distill: kd_feat needs neck levels of both models; student {s_ch}, "
                    f"teacher {t_ch}; set hooks.distill.feat_weight=0"
                )
            if self.use_connectors is False and s_ch != t_ch:
                raise ConfigError(
                    f"hooks.distill: neck widths differ (student {s_ch}, teacher {t_ch}); "
                    "set hooks.distill.connectors=true (learned 1x1 connectors) or feat_weight=0"
                )
            if self.use_connectors or (self.use_connectors is None and s_ch != t_ch):
                self.connectors = FeatureConnectors(s_ch, t_ch).to(runner.device)
                runner.add_trainable("distill", self.connectors)
        runner.logger.info(
            "distill: teacher %s from %s; weights cls %g, dfl %g, feat %g%s",
            self.teacher_cfg.get("type"),
            self.teacher_weights,
            self.cls_weight,
            self.dfl_weight,
            self.feat_weight,
            ", with connectors" if self.connectors is not None else "",
        )

    # ------------------------------------------------------------------ per step
    def after_forward(self, runner: RunnerContract) -> None:
        """Run the teacher on the step's images; add the weighted KD terms."""
        rec = runner.step_record
        w = self.weight(runner.epoch, runner.max_epochs)
        runner.storage.put_scalar("kd_weight", w)
        if w == 0.0:
            for name in TERMS:
                rec.add_loss(name, rec.losses["loss"].new_zeros(()))
            return
        if rec.outputs is None:
            raise DetregError("hooks.distill: the model gives no raw outputs (forward(return_outputs=True))")
        with torch.no_grad():
            t_out = self.teacher.raw_outputs(rec.images)
        s_out = rec.outputs
        if not self._checked:
            _check_outputs(s_out, t_out, self.dfl_weight > 0)
            self._checked = True
        zero = s_out["cls"].sum() * 0.0
        cls = (
            kd_cls_loss(s_out["cls"], t_out["cls"], self.temperature, self.cls_on)
            if self.cls_weight
            else zero
        )
        dfl = zero
        if self.dfl_weight:
            fg, weight, normalizer = box_loss_weights(s_out["assign"])
            dfl = kd_dfl_loss(s_out["reg"], t_out["reg"], fg, weight, normalizer, self.temperature)
        feat = zero
        if self.feat_weight:
            s_feats = self.connectors(s_out["feats"]) if self.connectors is not None else s_out["feats"]
            feat = cwd_loss(s_feats, t_out["feats"], self.feat_temperature)
        rec.add_loss("kd_cls", w * self.cls_weight * cls)
        rec.add_loss("kd_dfl", w * self.dfl_weight * dfl)
        rec.add_loss("kd_feat", w * self.feat_weight * feat)

    def after_backward(self, runner: RunnerContract) -> None:
        """Under DDP: average the connectors' gradients (they are outside the wrapped model)."""
        if self.connectors is None or runner.world_size <= 1:
            return
        import torch.distributed as tdist

        for p in self.connectors.parameters():
            if p.grad is not None:
                tdist.all_reduce(p.grad)
                p.grad.div_(runner.world_size)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """The connectors' weights and BN statistics (the teacher comes from its file)."""
        return {"connectors": self.connectors.state_dict() if self.connectors is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the connectors saved by :meth:`state_dict`."""
        saved = state.get("connectors")
        if self.connectors is not None and saved:
            self.connectors.load_state_dict(saved)


def _gives_assignment(loss: Any) -> bool:
    """True when ``loss`` takes ``return_assign`` (the Detector then puts ``assign`` in its outputs)."""
    try:
        return "return_assign" in inspect.signature(getattr(loss, "forward", loss)).parameters
    except (TypeError, ValueError):
        return False


def box_loss_weights(assign: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(fg_mask, weight, normalizer)`` of the box loss from the loss's assignment: the
    foreground anchors, each one's weight b = sum_c q, and the divisor sum(q) (1 when 0)."""
    scores = assign.scores.detach().float()
    total = scores.sum()
    normalizer = torch.where(total > 0, total, total.new_tensor(1.0))
    return assign.fg_mask, scores.sum(-1)[assign.fg_mask], normalizer


def _head(model_cfg: Any) -> Mapping[str, Any]:
    head = model_cfg.get("head") if isinstance(model_cfg, Mapping) else None
    return head if isinstance(head, Mapping) else {}


def _config_problem(student_cfg: Any, teacher_cfg: Mapping[str, Any], need_dfl: bool) -> str | None:
    """What makes the student/teacher configs unusable together (None: nothing seen)."""
    s, t = _head(student_cfg), _head(teacher_cfg)
    if "strides" in s and "strides" in t and list(s["strides"]) != list(t["strides"]):
        return (
            f"the teacher's head strides {list(t['strides'])} differ from the student's {list(s['strides'])}"
        )
    if need_dfl:
        for who, head in (("student", s), ("teacher", t)):
            if head and not head.get("use_dfl", False):
                return (
                    f"kd_dfl needs DFL box outputs but the {who}'s head has use_dfl false; use a DFL "
                    "config (configs/distill/), or set hooks.distill.dfl_weight=0"
                )
        if s.get("reg_max") is not None and t.get("reg_max") is not None and s["reg_max"] != t["reg_max"]:
            return (
                f"kd_dfl needs the same reg_max in both heads (student {s['reg_max']}, teacher "
                f"{t['reg_max']}); or set hooks.distill.dfl_weight=0"
            )
    return None


def _check_outputs(s: Mapping[str, Any], t: Mapping[str, Any], need_dfl: bool) -> None:
    """Student and teacher outputs that cannot be compared: one clear error."""
    if s["cls"].shape != t["cls"].shape:
        raise DetregError(
            f"hooks.distill: teacher class outputs {tuple(t['cls'].shape)} differ from the student's "
            f"{tuple(s['cls'].shape)} (number of classes, strides or input size)"
        )
    if need_dfl and s["reg"].shape != t["reg"].shape:
        raise DetregError(
            f"hooks.distill: teacher box outputs {tuple(t['reg'].shape)} differ from the student's "
            f"{tuple(s['reg'].shape)} (reg_max)"
        )
