"""Shared anchor-free decoupled head: per-level stem, cls/reg branches, raw outputs and decoding."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from detreg.models.layers import DFLDecode

YOLOV6_ANCHORS = (
    (10, 13, 19, 19, 33, 23),
    (30, 61, 59, 59, 59, 119),
    (116, 90, 185, 185, 373, 326),
)


def _flatten(x: Tensor) -> Tensor:
    """``[B, C, H, W] -> [B, H*W, C]`` (row-major cells)."""
    return x.flatten(2).transpose(1, 2)


class DecoupledHead(nn.Module):
    """Anchor-free decoupled head; subclasses supply the per-level stem/cls/reg conv modules.

    ``forward(feats)`` returns the training dict of the model contract::

        {"feats": feats, "cls": [B, A, nc] logits, "reg": [B, A, 4*(reg_max+1)] raw ltrb
         distance logits in stride units, "strides": [...]}

    plus, with ``fuse_ab``, ``"ab_cls"`` [B, 3A, nc], ``"ab_reg"`` [B, 3A, 4] (raw xywh-offset
    logits) and ``"anchors"`` [nl, 3, 2] (anchor w, h in pixels). A runs level by level,
    row-major; in the 3A layout each level holds anchor 0's H*W cells, then anchor 1's, then
    anchor 2's. ``forward(feats, decode=True)`` returns ``[B, A, 4 + nc]`` (xyxy input pixels,
    sigmoid scores) and skips the anchor-based branch. The training dict also holds
    ``"cls_feats"``: per level the class branch's features that ``cls_preds`` turns into
    logits (label co-tuning runs a second class predictor on them).
    """

    #: The children whose outputs are the classes: rebuilt by :meth:`set_num_classes`, not
    #: loaded from pretrained weights of other classes (see ``class_predictor_prefixes``).
    CLASS_PREDICTORS: tuple[str, ...] = ("cls_preds", "cls_preds_ab")

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int | None,
        strides: Sequence[int],
        use_dfl: bool,
        reg_max: int,
        fuse_ab: bool,
        anchors_init: Sequence[Sequence[float]],
        prior_prob: float,
    ) -> None:
        super().__init__()
        if len(in_channels) != len(strides):
            raise ValueError(f"{len(in_channels)} in_channels but {len(strides)} strides")
        if not use_dfl and reg_max != 0:
            raise ValueError("reg_max must be 0 when use_dfl is False (set use_dfl: true for DFL)")
        self.in_channels = list(in_channels)
        self.strides = [int(s) for s in strides]
        self.nl = len(self.strides)
        self.use_dfl, self.reg_max, self.fuse_ab = use_dfl, reg_max, fuse_ab
        self.prior_prob = prior_prob
        self.stems, self.cls_convs, self.reg_convs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for c in self.in_channels:
            stem, cls_conv, reg_conv = self.make_convs(c)
            self.stems.append(stem)
            self.cls_convs.append(cls_conv)
            self.reg_convs.append(reg_conv)
        self.reg_preds = nn.ModuleList(nn.Conv2d(c, 4 * (reg_max + 1), 1) for c in self.in_channels)
        self.dfl = DFLDecode(reg_max)
        self.na = 0
        if fuse_ab:
            anchors = torch.tensor([list(a) for a in anchors_init], dtype=torch.float32)
            if anchors.shape[0] != self.nl or anchors.shape[1] % 2:
                raise ValueError(f"anchors_init needs {self.nl} rows of (w, h) pairs, got {anchors.shape}")
            self.na = anchors.shape[1] // 2
            self.register_buffer("anchors", anchors.reshape(self.nl, self.na, 2))
            self.reg_preds_ab = nn.ModuleList(nn.Conv2d(c, 4 * self.na, 1) for c in self.in_channels)
        self.num_classes: int | None = None
        if num_classes is not None:
            self.set_num_classes(num_classes)
        self._init_reg()

    def make_convs(self, channels: int) -> tuple[nn.Module, nn.Module, nn.Module]:
        """Stem, cls conv and reg conv of one level (subclasses choose)."""
        raise NotImplementedError

    def set_num_classes(self, num_classes: int) -> None:
        """(Re)build the class predictors for ``num_classes`` classes, freshly initialised."""
        if num_classes == self.num_classes:
            return
        self.num_classes = int(num_classes)
        self.cls_preds = nn.ModuleList(nn.Conv2d(c, self.num_classes, 1) for c in self.in_channels)
        if self.fuse_ab:
            self.cls_preds_ab = nn.ModuleList(
                nn.Conv2d(c, self.num_classes * self.na, 1) for c in self.in_channels
            )
        self._init_cls()
        self.to(self.reg_preds[0].weight.device)

    @torch.no_grad()
    def _init_cls(self) -> None:
        prior = -math.log((1 - self.prior_prob) / self.prior_prob)
        for conv in [*self.cls_preds, *(self.cls_preds_ab if self.fuse_ab else [])]:
            conv.weight.zero_()
            conv.bias.fill_(prior)

    @torch.no_grad()
    def _init_reg(self) -> None:
        for conv in [*self.reg_preds, *(self.reg_preds_ab if self.fuse_ab else [])]:
            conv.weight.zero_()
            conv.bias.fill_(1.0)

    def forward(self, feats: Sequence[Tensor], decode: bool = False) -> dict[str, object] | Tensor:
        """Raw training outputs (a dict), or decoded predictions when ``decode``."""
        if self.num_classes is None:
            raise RuntimeError("the head has no num_classes yet (give it one, or build it inside Detector)")
        if len(feats) != self.nl:
            raise ValueError(f"head expects {self.nl} feature maps, got {len(feats)}")
        cls_out, reg_out, ab_cls, ab_reg, cls_feats = [], [], [], [], []
        for i, x in enumerate(feats):
            x = self.stems[i](x)
            cls_feat, reg_feat = self.cls_convs[i](x), self.reg_convs[i](x)
            cls_feats.append(cls_feat)
            cls_out.append(_flatten(self.cls_preds[i](cls_feat)))
            reg_out.append(_flatten(self.reg_preds[i](reg_feat)))
            if self.fuse_ab and not decode:
                b, _, h, w = x.shape
                c = self.cls_preds_ab[i](cls_feat).reshape(b, self.na, self.num_classes, h, w)
                r = self.reg_preds_ab[i](reg_feat).reshape(b, self.na, 4, h, w)
                ab_cls.append(c.permute(0, 1, 3, 4, 2).reshape(b, -1, self.num_classes))
                ab_reg.append(r.permute(0, 1, 3, 4, 2).reshape(b, -1, 4))
        out: dict[str, object] = {
            "feats": list(feats),
            "cls": torch.cat(cls_out, 1),
            "reg": torch.cat(reg_out, 1),
            "strides": list(self.strides),
            "cls_feats": cls_feats,
        }
        if decode:
            return self.decode(out)
        if self.fuse_ab:
            out.update(ab_cls=torch.cat(ab_cls, 1), ab_reg=torch.cat(ab_reg, 1), anchors=self.anchors)
        return out

    def decode(self, out: dict[str, object]) -> Tensor:
        """``[B, A, 4 + nc]``: xyxy boxes in input pixels and sigmoid class scores."""
        from detreg.ops.anchors import make_anchor_points
        from detreg.ops.boxes import dist2bbox

        cls, reg = out["cls"].float(), out["reg"].float()  # pixel coordinates need fp32
        points, stride_tensor = make_anchor_points(out["feats"], self.strides)
        boxes = dist2bbox(self.dfl(reg) * stride_tensor, points)
        return torch.cat((boxes, cls.sigmoid()), -1)
