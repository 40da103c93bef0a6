"""YOLOv6's composite detection loss: VFL classification + IoU and DFL box terms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from detreg.assigners.atss import ATSSAssigner
from detreg.assigners.common import AssignResult
from detreg.assigners.tal import TaskAlignedAssigner
from detreg.assigners.targets import pad_targets
from detreg.errors import DetregError
from detreg.losses.dfl import DFLoss
from detreg.losses.iou import IoULoss
from detreg.losses.varifocal import VarifocalLoss
from detreg.ops.anchors import Anchors, make_anchors
from detreg.ops.boxes import IoUType, bbox2dist, dist2bbox, xywh2xyxy
from detreg.registry import ASSIGNERS, LOSSES


def _build(value: Any, registry: Any, key: str, default: Any) -> Any:
    """A nested component given as None (default), a config mapping, or an object."""
    if value is None:
        return default()
    if isinstance(value, Mapping):
        return registry.build(value, key_path=key)
    return value


@LOSSES.register()
class YOLOv6Loss(nn.Module):
    """L = class_weight*L_cls + iou_weight*L_iou + dfl_weight*L_dfl (1.0 / 2.5 / 0.5).

    Targets come from ``warmup_assigner`` (ATSS, topk 9) while ``epoch < atss_warmup_epoch``,
    then from ``assigner`` (TAL, topk 13). With target scores q and per-anchor weight
    b = sum_c q on the positives: L_cls = VFL sum / sum(q) (only when sum(q) > 1);
    L_iou = sum (1 - IoU_x)*b / sum(q); L_dfl = sum DFL*b / sum(q) (0 without ``use_dfl``).
    With no positives the box terms are 0 (still connected to the graph).

    Called as ``loss(outputs, targets, img_size=(H, W), epoch=e)`` with the head's training
    dict (``feats``, ``cls`` logits [B,A,nc], ``reg`` [B,A,4*(reg_max+1)] (or [B,A,4]
    distances without DFL) in stride units, ``strides``; optionally the anchor-aided
    ``ab_cls``, ``ab_reg``, ``anchors``) and ``targets [N,6]``. Returns
    ``{"loss": total, "iou": 2.5*L_iou, "dfl": 0.5*L_dfl, "cls": 1.0*L_cls}`` (the last
    three detached). Like YOLOv6 the total is NOT multiplied by the batch size.

    Anchor-aided branch (``fuse_ab``): ``ab_reg`` holds raw (tx, ty, tw, th) per anchor,
    laid out per level anchor-major (anchor 0's H*W cells, then anchor 1's, ...); the box
    is centre = grid point + (tx, ty), size = (2*sigmoid(tw, th))^2 * anchor / stride (stride
    units). Its loss uses ``ab_assigner`` (TAL topk 26), VFL + IoU terms, no DFL, and is added
    term by term to the anchor-free loss.
    """

    def __init__(
        self,
        num_classes: int,
        strides: Sequence[int] = (8, 16, 32),
        iou_type: IoUType = "giou",
        use_dfl: bool = False,
        reg_max: int = 0,
        atss_warmup_epoch: int = 0,
        grid_cell_size: float = 5.0,
        offset: float = 0.5,
        class_weight: float = 1.0,
        iou_weight: float = 2.5,
        dfl_weight: float = 0.5,
        cls_loss: Annotated[Any, LOSSES] = None,
        iou_loss: Annotated[Any, LOSSES] = None,
        dfl_loss: Annotated[Any, LOSSES] = None,
        assigner: Annotated[Any, ASSIGNERS] = None,
        warmup_assigner: Annotated[Any, ASSIGNERS] = None,
        ab_assigner: Annotated[Any, ASSIGNERS] = None,
    ) -> None:
        super().__init__()
        if use_dfl and reg_max < 1:
            raise ValueError("use_dfl needs reg_max >= 1 (YOLOv6 uses 16)")
        if not use_dfl and reg_max != 0:
            raise ValueError("reg_max must be 0 when use_dfl is False")
        self.num_classes = int(num_classes)
        self.strides = [int(s) for s in strides]
        self.use_dfl, self.reg_max = use_dfl, int(reg_max)
        self.atss_warmup_epoch = atss_warmup_epoch
        self.grid_cell_size, self.offset = grid_cell_size, offset
        self.class_weight, self.iou_weight, self.dfl_weight = class_weight, iou_weight, dfl_weight
        self.cls_loss = _build(cls_loss, LOSSES, "cls_loss", VarifocalLoss)
        self.iou_loss = _build(iou_loss, LOSSES, "iou_loss", lambda: IoULoss(iou_type))
        self.dfl_loss = _build(dfl_loss, LOSSES, "dfl_loss", DFLoss)
        self.assigner = _build(assigner, ASSIGNERS, "assigner", lambda: TaskAlignedAssigner(topk=13))
        self.warmup_assigner = _build(
            warmup_assigner, ASSIGNERS, "warmup_assigner", lambda: ATSSAssigner(topk=9)
        )
        self.ab_assigner = _build(ab_assigner, ASSIGNERS, "ab_assigner", lambda: TaskAlignedAssigner(topk=26))
        self._anchor_cache: dict[tuple, Anchors] = {}

    # ------------------------------------------------------------------ helpers
    def _anchors(self, feats: Sequence[Tensor], strides: Sequence[int]) -> Anchors:
        dev = feats[0].device
        key = (tuple(tuple(f.shape[-2:]) for f in feats), tuple(strides), str(dev))
        if key not in self._anchor_cache:
            self._anchor_cache = {
                key: make_anchors(feats, strides, self.grid_cell_size, self.offset, device=dev)
            }
        return self._anchor_cache[key]

    def _distances(self, reg: Tensor) -> Tensor:
        """ltrb distances [B,A,4] (stride units) from the raw regression output."""
        want = 4 * (self.reg_max + 1)
        if reg.shape[-1] != want:
            raise DetregError(
                f"YOLOv6Loss(use_dfl={self.use_dfl}, reg_max={self.reg_max}) expects 'reg' with {want} "
                f"channels, got {reg.shape[-1]}; make the head's use_dfl/reg_max match the loss"
            )
        if not self.use_dfl:
            return reg.float()
        proj = torch.arange(self.reg_max + 1, device=reg.device, dtype=torch.float32)
        return reg.float().reshape(*reg.shape[:-1], 4, -1).softmax(-1) @ proj

    def _terms(
        self,
        cls_logits: Tensor,
        pred_bboxes: Tensor,
        dist_logits: Tensor | None,
        anchors: Anchors,
        gts: tuple[Tensor, Tensor, Tensor],
        assigner: Any,
    ) -> tuple[Tensor, Tensor, Tensor, AssignResult]:
        """(L_cls, L_iou, L_dfl, assignment) of one branch; ``pred_bboxes`` xyxy in stride units."""
        res = assigner(cls_logits.detach().sigmoid(), pred_bboxes.detach() * anchors.strides, anchors, *gts)
        scores = res.scores
        one_hot = F.one_hot(res.labels, self.num_classes + 1)[..., : self.num_classes]
        total_q = scores.sum()
        l_cls = self.cls_loss(cls_logits, scores, one_hot)
        l_cls = l_cls / torch.where(total_q > 1, total_q, total_q.new_tensor(1.0))
        fg = res.fg_mask
        zero = pred_bboxes.sum() * 0.0
        if not fg.any():
            return l_cls, zero, zero if dist_logits is None else dist_logits.sum() * 0.0, res
        denom = torch.where(total_q > 0, total_q, total_q.new_tensor(1.0))
        weight = scores.sum(-1)[fg]
        target_bboxes = (res.bboxes / anchors.strides)[fg]
        l_iou = (self.iou_loss(pred_bboxes[fg].float(), target_bboxes) * weight).sum() / denom
        l_dfl = zero
        if dist_logits is not None:
            points = anchors.points_in_strides.expand(fg.shape[0], -1, -1)[fg]
            target = bbox2dist(points, target_bboxes, self.reg_max)
            pd = dist_logits.reshape(*dist_logits.shape[:-1], 4, self.reg_max + 1)[fg]
            l_dfl = (self.dfl_loss(pd, target) * weight).sum() / denom
        return l_cls, l_iou, l_dfl, res

    def _ab_boxes(
        self, ab_reg: Tensor, anchor_wh: Tensor, anchors: Anchors, strides: Sequence[int]
    ) -> Tensor:
        """Decode the anchor-aided branch to xyxy boxes in stride units."""
        wh = []
        for level, (n, s) in enumerate(zip(anchors.num_per_level, strides)):
            cells = n // anchor_wh.shape[1]
            wh.append((anchor_wh[level].to(ab_reg.device, torch.float32) / s).repeat_interleave(cells, 0))
        wh = torch.cat(wh)  # [3A,2]
        t = ab_reg.float()
        xy = anchors.points_in_strides + t[..., :2]
        return xywh2xyxy(torch.cat((xy, (2 * t[..., 2:].sigmoid()) ** 2 * wh), -1))

    @staticmethod
    def _repeat_levels(anchors: Anchors, na: int) -> Anchors:
        """Each level's anchors repeated ``na`` times (anchor-major layout)."""
        pts, st, bx, num = [], [], [], []
        start = 0
        for n in anchors.num_per_level:
            sl = slice(start, start + n)
            pts.append(anchors.points[sl].repeat(na, 1))
            st.append(anchors.strides[sl].repeat(na, 1))
            bx.append(anchors.boxes[sl].repeat(na, 1))
            num.append(n * na)
            start += n
        return Anchors(torch.cat(pts), torch.cat(st), torch.cat(bx), num)

    # ------------------------------------------------------------------ call
    def forward(
        self,
        outputs: Mapping[str, Any],
        targets: Tensor,
        img_size: Sequence[int],
        epoch: int = 0,
        return_assign: bool = False,
    ) -> dict[str, Tensor] | tuple[dict[str, Tensor], AssignResult]:
        """The loss dict for one batch (see the class docstring); with ``return_assign``,
        ``(loss dict, assignment)``: the anchor-free branch's :class:`AssignResult` (which
        anchor trains on which target box, with its class), for hooks such as co-tuning."""
        cls_logits, reg, feats = outputs["cls"], outputs["reg"], outputs["feats"]
        strides = [int(s) for s in outputs.get("strides", self.strides)]
        batch, num_anchors, nc = cls_logits.shape
        if nc != self.num_classes:
            raise DetregError(f"the head predicts {nc} classes but the loss was built for {self.num_classes}")
        anchors = self._anchors(feats, strides)
        if anchors.points.shape[0] != num_anchors:
            raise DetregError(
                f"feature maps {[tuple(f.shape[-2:]) for f in feats]} give {anchors.points.shape[0]} anchors "
                f"but the head output has {num_anchors}"
            )
        gts = pad_targets(targets.to(cls_logits.device), batch, img_size)
        pred_bboxes = dist2bbox(self._distances(reg), anchors.points_in_strides)
        use_atss = epoch < self.atss_warmup_epoch
        assigner = self.warmup_assigner if use_atss else self.assigner
        l_cls, l_iou, l_dfl, assign = self._terms(
            cls_logits, pred_bboxes, reg if self.use_dfl else None, anchors, gts, assigner
        )
        if "ab_cls" in outputs:
            anchor_wh = outputs["anchors"]
            ab_anchors = self._repeat_levels(anchors, anchor_wh.shape[1])
            ab_boxes = self._ab_boxes(outputs["ab_reg"], anchor_wh, ab_anchors, strides)
            a_cls, a_iou, _, _ = self._terms(
                outputs["ab_cls"], ab_boxes, None, ab_anchors, gts, self.ab_assigner
            )
            l_cls, l_iou = l_cls + a_cls, l_iou + a_iou
        cls_t, iou_t, dfl_t = self.class_weight * l_cls, self.iou_weight * l_iou, self.dfl_weight * l_dfl
        losses = {
            "loss": cls_t + iou_t + dfl_t,
            "iou": iou_t.detach(),
            "dfl": dfl_t.detach(),
            "cls": cls_t.detach(),
        }
        return (losses, assign) if return_assign else losses
