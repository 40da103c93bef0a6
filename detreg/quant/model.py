"""``QuantDetector``: a detector whose network is a quantized (prepared or converted) graph.

What is exported and quantized is :class:`DetectorNet`: backbone -> neck -> head convs, with
the head's raw outputs as a flat tuple. Decoding (the DFL integral, anchor points, box
arithmetic) and the loss stay outside the graph in float, so the DFL integral is never
quantized (YOLOv6 always keeps it in float) and training works as with the float model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class DetectorNet(nn.Module):
    """The part of a :class:`~detreg.models.detector.Detector` that gets quantized.

    ``forward(images)`` -> ``(cls [B,A,nc], reg [B,A,4*(reg_max+1)], *extra, *feats)``,
    the head's training outputs (``extra``: ``ab_cls``, ``ab_reg`` with ``fuse_ab``) and the
    neck features. Submodule names are the detector's (``backbone.*``, ``neck.*``, ``head.*``),
    so ``skip`` patterns use the names ``detreg info`` and the checkpoints show.
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.backbone, self.neck, self.head = detector.backbone, detector.neck, detector.head

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        """Raw head outputs and neck features (see the class docstring)."""
        feats = self.neck(self.backbone(images))
        out = self.head(feats)
        extra = (out["ab_cls"], out["ab_reg"]) if "ab_cls" in out else ()
        return (out["cls"], out["reg"], *extra, *feats)


class QuantDetector(nn.Module):
    """A detector with the network ``net`` (an exported graph) and float decoding and loss.

    Same calls as :class:`~detreg.models.detector.Detector`: ``forward(images)`` decodes
    to ``[B, A, 4 + nc]``; ``forward(images, targets, epoch)`` returns the loss dict;
    ``predict``. With QAT fake-quantize modules, observers update only in training mode
    (evaluation, also of an EMA copy, leaves the learned ranges alone).
    """

    def __init__(self, net: torch.fx.GraphModule, detector: nn.Module) -> None:
        super().__init__()
        head = detector.head
        self.net = net
        self.strides = list(head.strides)
        self.num_classes = int(detector.num_classes)
        self.fuse_ab = bool(getattr(head, "fuse_ab", False))
        self.dfl = head.dfl
        self.loss = detector.loss
        if self.fuse_ab:
            self.register_buffer("anchors", head.anchors.clone())

    def _fake_quants(self) -> list[nn.Module]:
        from detreg.quant.backend import observers

        return [m for m in observers(self.net) if hasattr(m, "observer_enabled")]

    def train(self, mode: bool = True) -> QuantDetector:
        """Train/eval mode; fake-quantize observers follow it (see the class docstring)."""
        super().train(mode)
        for m in self._fake_quants():
            m.enable_observer(mode)
        return self

    def raw(self, images: Tensor) -> dict[str, Any]:
        """The head's training dict computed by the graph."""
        outs = self.net(images)
        n_extra = 2 if self.fuse_ab else 0
        out: dict[str, Any] = {"cls": outs[0], "reg": outs[1], "feats": list(outs[2 + n_extra :])}
        out["strides"] = list(self.strides)
        if self.fuse_ab:
            out.update(ab_cls=outs[2], ab_reg=outs[3], anchors=self.anchors)
        return out

    def decode(self, out: dict[str, Any]) -> Tensor:
        """``[B, A, 4 + nc]``: xyxy boxes in input pixels and sigmoid scores (float)."""
        from detreg.ops.anchors import make_anchor_points
        from detreg.ops.boxes import dist2bbox

        cls, reg = out["cls"].float(), out["reg"].float()
        points, stride_tensor = make_anchor_points(out["feats"], self.strides)
        boxes = dist2bbox(self.dfl(reg) * stride_tensor, points)
        return torch.cat((boxes, cls.sigmoid()), -1)

    def forward(
        self, images: Tensor, targets: Tensor | None = None, epoch: int = 0, return_outputs: bool = False
    ) -> Any:
        """Loss dict when ``targets`` is given, else decoded ``[B, A, 4 + nc]``."""
        if not self.training:  # an EMA update copies the model's "observer on" flags
            for m in self._fake_quants():
                m.observer_enabled[0] = 0
        out = self.raw(images)
        if targets is None:
            return self.decode(out)
        if self.loss is None:
            raise RuntimeError("the detector was built without a loss")
        losses = self.loss(out, targets.float(), img_size=tuple(images.shape[-2:]), epoch=epoch)
        return (losses, out) if return_outputs else losses

    @torch.no_grad()
    def predict(
        self, images: Tensor, conf_thres: float = 0.03, iou_thres: float = 0.65, max_det: int = 300
    ) -> list[Tensor]:
        """Per image an ``[n, 6]`` tensor ``(x1, y1, x2, y2, score, cls)`` in input pixels."""
        from detreg.ops.nms import postprocess

        return postprocess(self(images), conf_thres, iou_thres, max_det)

    def fuse(self) -> QuantDetector:
        """Already in deploy form (the network was fused before export); returns self."""
        return self
