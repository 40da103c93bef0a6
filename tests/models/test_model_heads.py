"""EffiDeHead / LiteEffiDeHead: init, training dict layout, anchor-aided branch, decoding."""

from __future__ import annotations

import math

import pytest
import torch

from detreg.models.heads.effide import EffiDeHead
from detreg.models.heads.lite_effide import LiteEffiDeHead

H, W = 64, 96  # input size; levels 8x12, 4x6, 2x3


def _feats(channels: list[int], strides: list[int], b: int = 2) -> list[torch.Tensor]:
    return [torch.randn(b, c, H // s, W // s) for c, s in zip(channels, strides)]


def test_yolov6_init() -> None:
    head = EffiDeHead((32, 64, 128), num_classes=5)
    for conv in head.cls_preds:
        assert torch.all(conv.weight == 0)
        torch.testing.assert_close(conv.bias, torch.full((5,), -math.log(0.99 / 0.01)))
    for conv in head.reg_preds:
        assert torch.all(conv.weight == 0) and torch.all(conv.bias == 1.0)


def test_training_outputs_layout() -> None:
    head = EffiDeHead((128, 256, 512), num_classes=3, width_multiple=0.25)
    assert head.in_channels == [32, 64, 128]
    feats = _feats(head.in_channels, head.strides)
    out = head(feats)
    a = sum(f.shape[-2] * f.shape[-1] for f in feats)
    assert out["cls"].shape == (2, a, 3) and out["reg"].shape == (2, a, 4)
    assert out["strides"] == [8, 16, 32] and len(out["feats"]) == 3
    assert "ab_cls" not in out
    # logits before sigmoid: the prior bias
    torch.testing.assert_close(out["cls"], torch.full_like(out["cls"], -math.log(99)))


def test_dfl_channels() -> None:
    head = EffiDeHead((32, 64, 128), num_classes=2, use_dfl=True, reg_max=16)
    out = head(_feats(head.in_channels, head.strides, 1))
    assert out["reg"].shape[-1] == 68
    with pytest.raises(ValueError, match="reg_max"):
        EffiDeHead((32, 64, 128), num_classes=2, use_dfl=False, reg_max=16)


def test_anchor_aided_branch_layout() -> None:
    nc = 2
    head = EffiDeHead((16, 16, 16), num_classes=nc, fuse_ab=True)
    # make channel (anchor a, class c) of the ab cls predictor output the constant 10a + c
    with torch.no_grad():
        for conv in head.cls_preds_ab:
            conv.weight.zero_()
            conv.bias.copy_(torch.tensor([10.0 * a + c for a in range(3) for c in range(nc)]))
    feats = _feats([16, 16, 16], head.strides)
    out = head(feats)
    sizes = [f.shape[-2] * f.shape[-1] for f in feats]
    a = sum(sizes)
    assert out["ab_cls"].shape == (2, 3 * a, nc) and out["ab_reg"].shape == (2, 3 * a, 4)
    assert out["anchors"].shape == (3, 3, 2)
    torch.testing.assert_close(out["anchors"][0, 0], torch.tensor([10.0, 13.0]))
    # level 0 block: anchor-major, H*W cells per anchor
    n0 = sizes[0]
    for anchor in range(3):
        block = out["ab_cls"][:, anchor * n0 : (anchor + 1) * n0]
        torch.testing.assert_close(block[..., 1], torch.full_like(block[..., 1], 10.0 * anchor + 1))
    decoded = head(feats, decode=True)
    assert decoded.shape == (2, a, 4 + nc)


def test_decode_boxes_and_scores() -> None:
    head = EffiDeHead((32, 64, 128), num_classes=4)
    feats = _feats(head.in_channels, head.strides, 1)
    pred = head(feats, decode=True)
    a = sum(f.shape[-2] * f.shape[-1] for f in feats)
    assert pred.shape == (1, a, 8)
    # initial reg bias 1 -> one stride each side; first cell centre (4, 4) at stride 8
    torch.testing.assert_close(pred[0, 0, :4], torch.tensor([-4.0, -4.0, 12.0, 12.0]))
    # last cell of the last level: centre (W - 16, H - 16), stride 32
    torch.testing.assert_close(pred[0, -1, :4], torch.tensor([W - 48.0, H - 48.0, W + 16.0, H + 16.0]))
    torch.testing.assert_close(pred[..., 4:], torch.full((1, a, 4), 0.01))


def test_set_num_classes_rebuilds_predictors() -> None:
    head = EffiDeHead((32, 64, 128))
    with pytest.raises(RuntimeError, match="num_classes"):
        head(_feats(head.in_channels, head.strides, 1))
    head.set_num_classes(7)
    assert head.cls_preds[0].out_channels == 7


def test_lite_head() -> None:
    head = LiteEffiDeHead(num_classes=3)
    strides = [8, 16, 32, 64]
    feats = [torch.randn(1, 96, 128 // s, 128 // s) for s in strides]
    out = head(feats)
    assert out["cls"].shape == (1, 256 + 64 + 16 + 4, 3) and out["reg"].shape[-1] == 4
    assert head(feats, decode=True).shape == (1, 340, 7)
