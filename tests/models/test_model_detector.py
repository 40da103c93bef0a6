"""Detector: training forward with the loss, predict, fuse (deploy) equivalence."""

from __future__ import annotations

import pytest
import torch
from model_helpers import build, model_cfg, randomize

from detreg.registry import LOSSES, MODELS


@pytest.mark.parametrize("fuse_ab", [False, True])
def test_training_step_with_the_configured_loss(fuse_ab: bool) -> None:
    if "YOLOv6Loss" not in LOSSES:
        pytest.skip("YOLOv6Loss is not registered yet")
    cfg = model_cfg("yolov6n", with_loss=True)
    cfg["head"]["fuse_ab"] = fuse_ab
    model = MODELS.build(cfg, context={"num_classes": 4}).train()
    targets = torch.tensor([[0, 1, 0.5, 0.5, 0.3, 0.4], [1, 3, 0.3, 0.6, 0.2, 0.2]])
    out = model(torch.rand(2, 3, 96, 96), targets, epoch=0)
    assert set(out) >= {"loss", "iou", "dfl", "cls"}
    assert torch.isfinite(out["loss"]) and out["loss"] > 0
    out["loss"].backward()
    grads = [p.grad for p in model.head.cls_preds.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    if fuse_ab:
        assert model.head.cls_preds_ab[0].weight.grad is not None


def test_training_forward_calls_the_loss() -> None:
    calls = {}

    def fake_loss(outputs, targets, img_size, epoch):
        calls.update(outputs=outputs, targets=targets, img_size=img_size, epoch=epoch)
        total = outputs["cls"].sum() + outputs["reg"].sum()
        return {"loss": total, "iou": total.detach(), "dfl": total.detach(), "cls": total.detach()}

    model = build("yolov6n", num_classes=4)
    model.loss = fake_loss
    model.train()
    targets = torch.tensor([[0, 1, 0.5, 0.5, 0.2, 0.3]])
    out = model(torch.rand(2, 3, 64, 96), targets, epoch=3)
    assert calls["img_size"] == (64, 96) and calls["epoch"] == 3 and calls["targets"] is targets
    assert set(calls["outputs"]) == {"feats", "cls", "reg", "strides", "cls_feats"}
    assert calls["outputs"]["cls"].shape == (2, 8 * 12 + 4 * 6 + 2 * 3, 4)
    out["loss"].backward()
    assert model.backbone.stem.rbr_dense.conv.weight.grad is not None

    model.loss = None
    with pytest.raises(RuntimeError, match="loss"):
        model(torch.rand(1, 3, 64, 64), targets)


def test_predict_returns_boxes() -> None:
    pytest.importorskip("detreg.ops.nms")
    model = build("yolov6n", num_classes=3).eval()
    dets = model.predict(torch.rand(2, 3, 64, 64), conf_thres=0.001)
    assert len(dets) == 2
    for d in dets:
        assert d.ndim == 2 and d.shape[1] == 6 and d.shape[0] > 0
        assert torch.all(d[:, 5] < 3) and torch.all(d[:, 4] > 0.001)


@pytest.mark.parametrize("name,block", [("yolov6n", None), ("yolov6n", "qarepvgg"), ("yolov6lite_s", None)])
def test_fused_model_matches_unfused(name: str, block: str | None) -> None:
    cfg = model_cfg(name)
    if block is not None:
        cfg["backbone"]["block"] = cfg["neck"]["block"] = block
    model = randomize(MODELS.build(cfg, context={"num_classes": 80})).eval()
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        ref_raw = model.head(model.neck(model.backbone(x)))
        ref = model(x)
        assert model.fuse() is model
        raw = model.head(model.neck(model.backbone(x)))
        out = model(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(raw["cls"], ref_raw["cls"], atol=1e-4, rtol=0)
    torch.testing.assert_close(raw["reg"], ref_raw["reg"], atol=1e-4, rtol=0)
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=0)
