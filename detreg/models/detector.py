"""Detector: backbone -> neck -> head, with the loss for training and decoding for inference."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import torch
from torch import Tensor, nn

from detreg.models.layers import Fusable
from detreg.registry import BACKBONES, HEADS, LOSSES, MODELS, NECKS


def _check_widths(upper: nn.Module, lower: nn.Module, what: str) -> None:
    out = getattr(upper, "out_channels", None)
    inp = getattr(lower, "in_channels", None)
    if out is not None and inp is not None and list(out) != list(inp):
        raise ValueError(
            f"{what}: {type(upper).__name__} gives channels {list(out)} but {type(lower).__name__} "
            f"expects {list(inp)} (check their channels / width_multiple)"
        )


def _to_float(value: Any) -> Any:
    """Floating tensors (also inside lists) as fp32; anything else unchanged."""
    if torch.is_tensor(value):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(_to_float(v) for v in value)
    return value


def _takes(fn: Any, name: str) -> bool:
    """True when calling ``fn`` accepts a keyword ``name``."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


@MODELS.register(aliases=("YOLOv6",))
class Detector(nn.Module):
    """A one-stage detector: ``head(neck(backbone(images)))``.

    Each part takes its own (unscaled YOLOv6) channel lists and ``depth_multiple`` /
    ``width_multiple``; the build checks that neighbouring widths agree. ``num_classes``
    (from the run context) is passed to the head. ``loss`` is called as
    ``loss(outputs, targets, img_size=(H, W), epoch=epoch)`` on the head's training dict.
    """

    def __init__(
        self,
        backbone: Annotated[nn.Module, BACKBONES],
        neck: Annotated[nn.Module, NECKS],
        head: Annotated[nn.Module, HEADS],
        num_classes: int,
        loss: Annotated[Any, LOSSES] = None,
    ) -> None:
        super().__init__()
        _check_widths(backbone, neck, "backbone -> neck")
        _check_widths(neck, head, "neck -> head")
        neck_strides = getattr(neck, "strides", None)
        if neck_strides is not None and list(neck_strides) != list(head.strides):
            raise ValueError(
                f"neck strides {list(neck_strides)} differ from head strides {list(head.strides)}"
            )
        head.set_num_classes(num_classes)
        self.backbone, self.neck, self.head = backbone, neck, head
        self.num_classes = int(num_classes)
        self.loss = loss

    #: Inputs must be a multiple of this: the deepest level where features of neighbouring
    #: levels meet (P5). Extra coarser outputs (the lite models' stride 64) come from a
    #: strided conv, which any such input feeds.
    INPUT_MULTIPLE = 32

    @classmethod
    def input_multiple(cls, cfg: Any) -> int:
        """The multiple an input side must be for the model ``cfg`` describes (no build)."""
        head = cfg.get("head") if isinstance(cfg, dict) else None
        strides = head.get("strides") if isinstance(head, dict) else None
        if isinstance(strides, (list, tuple)) and strides and all(isinstance(s, int) for s in strides):
            return min(max(strides), cls.INPUT_MULTIPLE)
        return cls.INPUT_MULTIPLE

    @property
    def strides(self) -> list[int]:
        """Strides of the output levels."""
        return list(self.head.strides)

    def forward(
        self, images: Tensor, targets: Tensor | None = None, epoch: int = 0, return_outputs: bool = False
    ) -> Any:
        """Loss dict when ``targets`` ([N,6]) is given, else decoded ``[B, A, 4 + nc]``.

        With ``targets`` and ``return_outputs``, ``(loss dict, head outputs)``: the head's raw
        training dict (``feats``: the per-level neck features, ``cls``: class logits
        ``[B, A, nc]``, ``reg``: box distributions ``[B, A, 4*(reg_max+1)]``, ``strides``,
        ``cls_feats``: the class branch's features per level), as computed (under autocast:
        in its dtype), for hooks such as distillation; plus ``assign``, the loss's
        :class:`~detreg.assigners.common.AssignResult` (``fg_mask [B, A]``, ``labels [B, A]``,
        ``gt_idx [B, A]``: which anchor trains on which target box) when the loss takes a
        ``return_assign`` argument (``YOLOv6Loss`` does). The loss is the same either way.
        """
        feats = self.neck(self.backbone(images))
        if targets is None:
            return self.head(feats, decode=True)
        if self.loss is None:
            raise RuntimeError(
                "Detector was built without a loss; add `loss: {type: ...}` to the model config"
            )
        outputs = self.head(feats)
        dev = images.device.type
        if torch.is_autocast_enabled(dev):  # the loss and the assignment always run in fp32
            fp32 = {k: v if k in ("feats", "cls_feats") else _to_float(v) for k, v in outputs.items()}
            with torch.autocast(dev, enabled=False):
                losses = self._loss(fp32, targets.float(), images, epoch, return_outputs)
        else:
            losses = self._loss(outputs, targets, images, epoch, return_outputs)
        if isinstance(losses, tuple):
            losses, outputs["assign"] = losses
        return (losses, outputs) if return_outputs else losses

    def _loss(self, outputs: dict, targets: Tensor, images: Tensor, epoch: int, want_assign: bool) -> Any:
        """The loss dict, or ``(loss dict, assignment)`` when wanted and the loss can give it."""
        kwargs = {"img_size": tuple(images.shape[-2:]), "epoch": epoch}
        if want_assign and _takes(getattr(self.loss, "forward", self.loss), "return_assign"):
            kwargs["return_assign"] = True
        return self.loss(outputs, targets, **kwargs)

    def raw_outputs(self, images: Tensor) -> dict[str, Any]:
        """The head's raw training dict for ``images`` (``feats``, ``cls``, ``reg``, ``strides``,
        plus the anchor-aided entries with ``fuse_ab``), without targets or a loss: what a
        distillation teacher gives (see ``DistillHook``)."""
        return self.head(self.neck(self.backbone(images)))

    @torch.no_grad()
    def predict(
        self, images: Tensor, conf_thres: float = 0.03, iou_thres: float = 0.65, max_det: int = 300
    ) -> list[Tensor]:
        """Per image an ``[n, 6]`` tensor ``(x1, y1, x2, y2, score, cls)`` in input pixels.

        Runs in whatever mode the model is in; call ``model.eval()`` first for inference.
        """
        from detreg.ops.nms import postprocess

        return postprocess(self(images), conf_thres, iou_thres, max_det)

    def fuse(self) -> Detector:
        """Deploy form: RepVGG-like blocks to one conv, Conv+BN folded. In place; returns self.

        Eval-mode outputs are unchanged (to float rounding).
        """
        for m in list(self.modules()):
            if isinstance(m, Fusable):
                m.fuse()
        return self
