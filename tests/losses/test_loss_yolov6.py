"""The composite YOLOv6 loss on a tiny fake head output with free parameters."""

from __future__ import annotations

import pytest
import torch

from detreg.errors import DetregError
from detreg.losses.yolov6 import YOLOv6Loss
from detreg.registry import LOSSES

STRIDES = [8, 16, 32]
IMG = (64, 96)  # H, W
TARGETS = torch.tensor(
    [
        [0, 1, 0.5, 0.5, 0.4, 0.5],
        [0, 2, 0.2, 0.3, 0.2, 0.25],
        [1, 0, 0.7, 0.6, 0.5, 0.3],
    ]
)


def fake_outputs(nc: int = 3, reg_max: int = 0, batch: int = 2, fuse_ab: bool = False, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    feats = [torch.zeros(batch, 4, IMG[0] // s, IMG[1] // s) for s in STRIDES]
    a = sum(f.shape[-2] * f.shape[-1] for f in feats)
    cls = (torch.randn(batch, a, nc, generator=g) * 0.1 - 2).requires_grad_(True)
    reg = (1.0 + torch.randn(batch, a, 4 * (reg_max + 1), generator=g) * 0.1).requires_grad_(True)
    out = {"feats": feats, "cls": cls, "reg": reg, "strides": STRIDES}
    if fuse_ab:
        out["ab_cls"] = (torch.randn(batch, 3 * a, nc, generator=g) * 0.1 - 2).requires_grad_(True)
        out["ab_reg"] = (torch.randn(batch, 3 * a, 4, generator=g) * 0.1).requires_grad_(True)
        out["anchors"] = torch.tensor(
            [[10, 13, 19, 19, 33, 23], [30, 61, 59, 59, 59, 119], [116, 90, 185, 185, 373, 326.0]]
        ).reshape(3, 3, 2)
    return out


def params(out):
    return [v for v in out.values() if isinstance(v, torch.Tensor) and v.requires_grad]


def train(loss, out, steps: int = 15, epoch: int = 0, lr: float = 0.05):
    opt = torch.optim.Adam(params(out), lr=lr)
    history = []
    for _ in range(steps):
        res = loss(out, TARGETS, IMG, epoch=epoch)
        opt.zero_grad()
        res["loss"].backward()
        opt.step()
        history.append(res)
    return history


@pytest.mark.parametrize(
    "cfg, epoch",
    [
        ({"iou_type": "siou"}, 0),  # TAL
        ({"iou_type": "giou", "atss_warmup_epoch": 2}, 0),  # ATSS warm-up
        ({"iou_type": "ciou", "use_dfl": True, "reg_max": 16}, 0),  # DFL
    ],
)
def test_finite_grads_flow_and_loss_falls(cfg, epoch):
    loss = YOLOv6Loss(num_classes=3, **cfg)
    out = fake_outputs(reg_max=cfg.get("reg_max", 0))
    hist = train(loss, out, steps=20, epoch=epoch)
    first, last = hist[0], hist[-1]
    for k in ("loss", "iou", "dfl", "cls"):
        assert torch.isfinite(first[k]) and first[k].ndim == 0
    assert not first["iou"].requires_grad and first["loss"].requires_grad
    assert first["iou"] > 0 and first["cls"] > 0
    assert (first["dfl"] > 0) == bool(cfg.get("use_dfl"))
    assert torch.allclose(first["loss"].detach(), first["iou"] + first["dfl"] + first["cls"])
    assert last["loss"] < 0.8 * first["loss"]
    res = loss(out, TARGETS, IMG, epoch=epoch)
    res["loss"].backward()
    assert out["cls"].grad.abs().sum() > 0 and out["reg"].grad.abs().sum() > 0


def test_atss_then_tal_switch():
    loss = YOLOv6Loss(num_classes=3, atss_warmup_epoch=1)
    calls = []
    for name in ("assigner", "warmup_assigner"):
        inner = getattr(loss, name)
        setattr(loss, name, lambda *a, _i=inner, _n=name: calls.append(_n) or _i(*a))
    out = fake_outputs()
    loss(out, TARGETS, IMG, epoch=0)
    loss(out, TARGETS, IMG, epoch=1)
    assert calls == ["warmup_assigner", "assigner"]


def test_no_targets_gives_background_only_loss():
    loss = YOLOv6Loss(num_classes=3, use_dfl=True, reg_max=4)
    out = fake_outputs(reg_max=4)
    res = loss(out, torch.zeros(0, 6), IMG)
    assert res["iou"] == 0 and res["dfl"] == 0 and res["cls"] > 0
    res["loss"].backward()  # the box terms stay in the graph (zero gradient)
    assert torch.equal(out["reg"].grad, torch.zeros_like(out["reg"]))
    assert (out["cls"].grad > 0).all()  # every anchor is pushed towards background


def test_build_from_config_with_swapped_parts():
    cfg = {
        "type": "YOLOv6Loss",
        "iou_loss": {"type": "IoULoss", "iou_type": "diou"},
        "assigner": {"type": "TaskAlignedAssigner", "topk": 5},
        "warmup_assigner": {"type": "ATSSAssigner", "topk": 4},
        "cls_loss": {"type": "VarifocalLoss", "alpha": 0.5},
    }
    loss = LOSSES.build(cfg, context={"num_classes": 3})
    assert loss.num_classes == 3 and loss.iou_loss.iou_type == "diou"
    assert loss.assigner.topk == 5 and loss.warmup_assigner.topk == 4 and loss.cls_loss.alpha == 0.5
    res = loss(fake_outputs(), TARGETS, IMG)
    assert torch.isfinite(res["loss"])


def test_clear_errors():
    out = fake_outputs(reg_max=0)
    with pytest.raises(DetregError, match="channels"):
        YOLOv6Loss(num_classes=3, use_dfl=True, reg_max=16)(out, TARGETS, IMG)
    with pytest.raises(DetregError, match="classes"):
        YOLOv6Loss(num_classes=4)(out, TARGETS, IMG)
    bad = TARGETS.clone()
    bad[1, 4] = -0.1  # negative width
    with pytest.raises(DetregError, match="degenerate"):
        YOLOv6Loss(num_classes=3)(out, bad, IMG)
    with pytest.raises(ValueError):
        YOLOv6Loss(num_classes=3, use_dfl=False, reg_max=16)


def test_anchor_aided_branch_adds_terms():
    loss = YOLOv6Loss(num_classes=3)
    out = fake_outputs(fuse_ab=True)
    plain = {k: v for k, v in out.items() if not k.startswith("ab_") and k != "anchors"}
    base = loss(plain, TARGETS, IMG)
    both = loss(out, TARGETS, IMG)
    assert both["cls"] > base["cls"] and both["iou"] > base["iou"]
    both["loss"].backward()
    assert out["ab_reg"].grad.abs().sum() > 0 and out["ab_cls"].grad.abs().sum() > 0
    hist = train(loss, out, steps=15)
    assert hist[-1]["loss"] < 0.7 * hist[0]["loss"]
