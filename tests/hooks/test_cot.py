"""CoTHook: the relationship matrix on a hand-made case, the loss term, and exact resume."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import nn

from detreg.assigners.common import AssignResult
from detreg.data.synth import make_synth_dataset
from detreg.engine import Hook
from detreg.engine.checkpoint import load_checkpoint, save_checkpoint
from detreg.engine.runner import Runner
from detreg.engine.step_record import StepRecord
from detreg.errors import DetregError
from detreg.hooks.cot import CoTHook
from detreg.launch import CONFIG_DIR, prepare_config
from detreg.registry import MODELS

LN2 = math.log(2.0)


class TwoAnchorHead(nn.Module):
    """A head with one level of two anchors whose class features are the images' pixels."""

    CLASS_PREDICTORS = ("cls_preds",)

    def __init__(self, nc: int) -> None:
        super().__init__()
        self.cls_preds = nn.ModuleList([nn.Conv2d(2, nc, 1)])


class HandModel(nn.Module):
    """``images [B, 2, 1, 2]`` are the class features; ``targets`` rows (img, cls, anchor)
    assign that anchor of that image to that class."""

    def __init__(self, nc: int) -> None:
        super().__init__()
        self.num_classes = nc
        self.head = TwoAnchorHead(nc)

    def forward(self, images, targets, epoch: int = 0, return_outputs: bool = False):
        b = images.shape[0]
        fg = torch.zeros(b, 2, dtype=torch.bool)
        labels = torch.full((b, 2), self.num_classes)
        for img, cls, anchor in targets.long().tolist():
            fg[img, anchor], labels[img, anchor] = True, cls
        assign = AssignResult(
            labels, torch.zeros(b, 2, 4), torch.zeros(b, 2, 1), fg, torch.zeros_like(labels)
        )
        return {"loss": images.sum()}, {"cls_feats": [images], "assign": assign}


def hand_runner(tmp_path: Path, nc: int = 3) -> SimpleNamespace:
    """Source predictor: logits = (f0, f1, 0) over 3 source classes. Batches give, for target
    class 0, features (ln2, 0) and (0, 0); for class 1, (0, ln2); class 2 gets no anchor."""
    weight = torch.zeros(3, 2, 1, 1)
    weight[0, 0] = weight[1, 1] = 1.0
    source = {"head.cls_preds.0.weight": weight, "head.cls_preds.0.bias": torch.zeros(3)}
    path = save_checkpoint(
        {"model": source, "config": {"data": {"names": ["a", "b", "c"]}}}, tmp_path / "s.pt"
    )
    img0 = torch.tensor([[[LN2, 0.0]], [[0.0, 0.0]]])  # anchor 0: (ln2, 0); anchor 1: (0, 0)
    img1 = torch.tensor([[[0.0, 9.0]], [[LN2, 9.0]]])  # anchor 0: (0, ln2); anchor 1 unassigned
    batches = [  # the hook reads images as uint8-range values and divides by 255
        {"img": img0[None] * 255, "targets": torch.tensor([[0, 0, 0], [0, 0, 1]])},
        {"img": img1[None] * 255, "targets": torch.tensor([[0, 1, 0]])},
    ]
    model = HandModel(nc)
    return SimpleNamespace(
        unwrapped_model=model,
        model=model,
        resume_from=None,
        device=torch.device("cpu"),
        train_loader=batches,
        epoch=0,
        world_size=1,
        context={"class_names": ["x", "y", "z"][:nc]},
        logger=logging.getLogger("test_cot"),
        step_record=None,
    ), path


def test_relationship_matrix_on_a_hand_made_case(tmp_path: Path) -> None:
    runner, path = hand_runner(tmp_path)
    hook = CoTHook(pretrained=str(path))
    hook.before_train(runner)
    third = 1 / 3
    expected = torch.tensor(
        [
            [(0.5 + third) / 2, (0.25 + third) / 2, (0.25 + third) / 2],  # softmax(ln2,0,0), softmax(0,0,0)
            [0.25, 0.5, 0.25],  # softmax(0, ln2, 0)
            [third, third, third],  # no anchor: uniform
        ]
    )
    torch.testing.assert_close(hook.relationship, expected)
    torch.testing.assert_close(hook.relationship.sum(1), torch.ones(3))
    assert hook.counts.tolist() == [2, 1, 0]
    assert not any(p.requires_grad for p in hook.source.parameters())


def test_the_term_is_the_cross_entropy_to_the_class_rows_and_trains_the_features(tmp_path: Path) -> None:
    runner, path = hand_runner(tmp_path)
    hook = CoTHook(pretrained=str(path), weight=2.0, scale=1.0)
    hook.before_train(runner)
    feats = torch.tensor([[[[LN2, 0.0]], [[0.0, 0.0]]]], requires_grad=True)  # [1, 2, 1, 2]
    _, outputs = runner.unwrapped_model(feats, torch.tensor([[0, 1, 1]]), return_outputs=True)
    record = StepRecord(feats, torch.zeros(0, 6), outputs, {"loss": torch.zeros(())})
    runner.step_record = record
    hook.after_forward(runner)
    log_p = torch.log_softmax(torch.tensor([0.0, 0.0, 0.0]), 0)  # anchor 1's source logits
    expected = 2.0 * -(hook.relationship[1] * log_p).sum()
    torch.testing.assert_close(record.terms["cot"], expected)
    record.total_loss().backward()
    assert feats.grad[0, :, 0, 1].abs().sum() > 0 and feats.grad[0, :, 0, 0].abs().sum() == 0


def test_a_checkpoint_without_a_class_predictor_is_a_clear_error(tmp_path: Path) -> None:
    runner, _ = hand_runner(tmp_path)
    path = save_checkpoint({"model": {"backbone.w": torch.zeros(1)}}, tmp_path / "b.pt")
    with pytest.raises(DetregError, match=r"b.pt has no head.cls_preds.\* tensors"):
        CoTHook(pretrained=str(path)).before_train(runner)


# ---------------------------------------------------------------------- on a real YOLOv6-N
class StopHook(Hook):
    """Raise in ``before_epoch`` of epoch ``at`` (a crash between epochs)."""

    priority = 0

    def __init__(self, at: int | None = None) -> None:
        self.at = at

    def before_epoch(self, runner: Any) -> None:
        if runner.epoch == self.at:
            raise KeyboardInterrupt("simulated crash")


@pytest.fixture(scope="module")
def finetune_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 3-class data set and a 6-class YOLOv6-N 'base model' with non-trivial class predictors."""
    root = tmp_path_factory.mktemp("cot")
    data = make_synth_dataset(
        root / "data", n_train=4, n_val=1, size=64, classes=["circle", "square", "ring"]
    )
    cfg = prepare_config(CONFIG_DIR / "yolov6n.yaml", [], validate=False)
    torch.manual_seed(0)
    model = MODELS.build(cfg.data["model"], "model", {"num_classes": 6})
    with torch.no_grad():
        for conv in model.head.cls_preds:
            conv.weight.normal_(0, 0.5)
    names = ["a", "b", "c", "d", "e", "f"]
    base = save_checkpoint(
        {"model": model.state_dict(), "config": {"data": {"names": names}}}, root / "base.pt"
    )
    return data, base


def run(
    data: Path, base: Path, work_dir: Path, stop: int | None = None, resume: Path | None = None
) -> Runner:
    cfg = prepare_config(
        CONFIG_DIR / "yolov6n.yaml",
        [
            f"data.source={data}",
            f"work_dir={work_dir}",
            "train.img_size=64",
            "train.batch_size=2",
            "train.epochs=2",
            "train.workers=0",
            "train.amp=false",
            "train.deterministic=true",
            f"train.pretrained={base}",
            "hooks.cot={type: CoTHook, weight: 0.5}",
            "hooks.eval=null",
            "hooks.best=null",
            "hooks.tensorboard=null",
            "hooks.images=null",
            "hooks.progress.bar=false",
            f"hooks.stop={{type: {__name__}.StopHook, at: {'null' if stop is None else stop}}}",
        ],
    )
    runner = Runner(cfg, resume=resume)
    runner.train()
    return runner


def test_cot_trains_and_its_state_survives_resume_exactly(finetune_setup, tmp_path: Path) -> None:
    data, base = finetune_setup
    torch.set_num_threads(1)
    full = run(data, base, tmp_path / "full")
    ckpt = load_checkpoint(full.work_dir / "last.pt")
    assert set(ckpt["model"]) == set(full.unwrapped_model.state_dict())  # no source predictor in the model
    cot = ckpt["hooks"]["cot"]
    assert cot["relationship"].shape == (3, 6) and set(cot["source"]) == {
        f"{i}.{p}" for i in range(3) for p in ("weight", "bias")
    }
    torch.testing.assert_close(cot["relationship"].sum(1), torch.ones(3))
    records = (full.work_dir / "metrics.jsonl").read_text()
    assert '"cot":' in records

    with pytest.raises(KeyboardInterrupt):
        run(data, base, tmp_path / "part", stop=1)
    moved = base.with_name("moved.pt")
    base.rename(moved)  # the resumed run needs the checkpoint only
    try:
        resumed = run(data, base, tmp_path / "part", resume=tmp_path / "part" / "last.pt")
    finally:
        moved.rename(base)
    a, b = full.unwrapped_model.state_dict(), resumed.unwrapped_model.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    hook = dict(resumed.hooks)["cot"]
    torch.testing.assert_close(hook.relationship, cot["relationship"], rtol=0, atol=0)
