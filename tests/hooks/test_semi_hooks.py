"""The semi-supervised hooks in training: EMA teacher, no gradient to it, exact resume."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import yaml

from detreg.engine import Hook
from detreg.engine.checkpoint import load_checkpoint
from detreg.engine.runner import Runner
from detreg.engine.step import TrainStep
from detreg.engine.storage import EpochStorage
from detreg.hooks.dense_teacher import DenseTeacherHook
from detreg.launch import CONFIG_DIR, prepare_config
from detreg.optim.ema import ModelEMA
from detreg.registry import MODELS

TINY = ["backbone", "neck", "head"]
STRONG = (
    "[{type: ColorJitter, prob: 1.0}, {type: GaussianBlur}, {type: RandomGrayscale}, {type: RandomErasing}]"
)


def tiny_overrides() -> list[str]:
    """yolov6n at 1/16 width and one block per stage: a detector small enough for tests."""
    out = [f"model.{part}.width_multiple=0.0625" for part in TINY]
    return out + [f"model.{part}.depth_multiple=0.01" for part in TINY[:2]]


class CrashHook(Hook):
    """Raise before epoch ``at_epoch``."""

    priority = 0

    def __init__(self, at_epoch: int | None = None) -> None:
        self.at_epoch = at_epoch

    def before_epoch(self, runner: Any) -> None:
        if runner.epoch == self.at_epoch:
            raise KeyboardInterrupt(f"simulated crash before epoch {runner.epoch}")


def train(
    data: Path, work_dir: Path, hook: str, crash: int | None = None, resume: Path | None = None
) -> Runner:
    overrides = [
        f"data.source={data}",
        f"work_dir={work_dir}",
        "train.img_size=64",
        "train.batch_size=4",  # 12 images: 3 steps per epoch
        "train.epochs=2",
        "train.workers=0",
        "train.amp=false",
        "train.deterministic=true",
        "train.nominal_batch_size=4",
        "hooks.warmup.min_warmup_iters=2",
        "hooks.ema=null",
        "hooks.eval=null",
        "hooks.best=null",
        "hooks.tensorboard=null",
        "hooks.images=null",
        "hooks.progress.bar=false",
        f"hooks.semi={{type: {hook}, ema_start: 1, semi_start: 2, ramp_iters: 2, ema_decay: 0.9}}",
        f"data.unlabeled={{img_path: {data.parent / 'images' / 'train'}, transforms: [{{type: RandomFlip}}], "
        f"strong_transforms: {STRONG}}}",
        f"hooks.crash={{type: {__name__}.CrashHook, at_epoch: {'null' if crash is None else crash}}}",
        *tiny_overrides(),
    ]
    runner = Runner(prepare_config(CONFIG_DIR / "yolov6n.yaml", overrides), resume=resume)
    runner.train()
    return runner


def same(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=f"{what}: {k}")


def test_crash_and_resume_equals_the_uninterrupted_run(tiny_data: Path, tmp_path: Path) -> None:
    """The three hooks share this state (teacher, its updates, the stream position): one run."""
    hook = "DenseTeacherHook"
    full = train(tiny_data, tmp_path / "full", hook)
    semi = dict(full.hooks)["semi"]
    assert semi.teacher_ready and full.eval_model is semi.teacher.module  # evaluation on the teacher
    assert semi.stream.drawn == 6 - 2  # one unlabeled batch per step from semi_start
    assert semi.teacher.updates == 6 - 1  # copied at iteration 1, then one EMA update per step
    assert full.storage.history[-1]["unsup"] != 0.0
    last = load_checkpoint(tmp_path / "full" / "last.pt")
    same(last["ema"]["module"], semi.teacher.module.state_dict(), "ema entry = teacher")

    with pytest.raises(KeyboardInterrupt):
        train(tiny_data, tmp_path / "part", hook, crash=1)
    resumed = train(tiny_data, tmp_path / "part", hook, resume=tmp_path / "part" / "last.pt")
    r_semi = dict(resumed.hooks)["semi"]
    assert resumed.eval_model is r_semi.teacher.module
    assert r_semi.stream.drawn == semi.stream.drawn and r_semi.teacher.updates == semi.teacher.updates
    same(full.unwrapped_model.state_dict(), resumed.unwrapped_model.state_dict(), "student")
    same(semi.teacher.module.state_dict(), r_semi.teacher.module.state_dict(), "teacher")


def _tiny_detector() -> torch.nn.Module:
    cfg = yaml.safe_load((CONFIG_DIR / "yolov6n.yaml").read_text())["model"]
    for part in TINY:
        cfg[part]["width_multiple"] = 0.0625
        if part != "head":
            cfg[part]["depth_multiple"] = 0.01
    return MODELS.build(cfg, "model", {"num_classes": 3})


class _Stream:
    def __init__(self, batch: dict) -> None:
        self.batch, self.drawn = batch, 0

    def next(self) -> dict:
        self.drawn += 1
        return self.batch


def _runner(model: torch.nn.Module, hooks: list) -> SimpleNamespace:
    runner = SimpleNamespace(
        model=model,
        unwrapped_model=model,
        eval_model=model,
        device=torch.device("cpu"),
        cfg={"train": {"amp": False}},
        logger=logging.getLogger("test_semi"),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
        epoch=0,
        iter=0,
        accumulate=1,
        world_size=1,
        step_record=None,
        storage=EpochStorage(0),
    )
    runner.call = lambda event, *args: [getattr(h, event)(runner, *args) for h in hooks if hasattr(h, event)]
    return runner


def test_teacher_is_copied_at_ema_start_then_ema_updated_with_buffers_and_gets_no_gradient() -> None:
    torch.manual_seed(0)
    model = _tiny_detector()
    hook = DenseTeacherHook(ema_start=1, semi_start=1, ema_decay=0.5, ramp_iters=0)
    runner = _runner(model, [hook])
    hook.teacher = ModelEMA(model, decay=0.5, tau=0.0)
    g = torch.Generator().manual_seed(1)
    img = torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8, generator=g)
    hook.stream = _Stream({"img": img, "img_strong": img.flip(-1)})
    labeled = {"img": img, "targets": torch.tensor([[0, 1, 0.5, 0.5, 0.3, 0.3]])}
    step = TrainStep()
    step.setup(runner)

    hook.before_step(runner)  # iteration 0: before ema_start: no teacher, no unlabeled batch
    assert not hook.teacher_ready and hook.stream.drawn == 0
    step.step(runner, labeled)
    assert hook.teacher.updates == 0 and runner.eval_model is model

    runner.iter = 1
    with torch.no_grad():  # make the BN statistics differ from the teacher's initial copy
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.add_(0.25)
    hook.before_step(runner)  # exact copy at ema_start
    assert hook.teacher_ready and runner.eval_model is hook.teacher.module
    same(hook.teacher.module.state_dict(), model.state_dict(), "copy at ema_start")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = step.step(runner, labeled)  # unsupervised term added, one backward, optimizer step
    assert out["unsup"] > 0 and hook.stream.drawn == 1
    assert all(p.grad is None and not p.requires_grad for p in hook.teacher.module.parameters())
    after = model.state_dict()
    for key, t in hook.teacher.module.state_dict().items():  # e = 0.5 * e + 0.5 * m, buffers too
        if t.is_floating_point():
            torch.testing.assert_close(t, 0.5 * before[key] + 0.5 * after[key], msg=key)
    assert any("running_mean" in k and not torch.equal(before[k], after[k]) for k in after)


def test_the_unsupervised_term_changes_the_students_gradient_only() -> None:
    torch.manual_seed(0)
    model = _tiny_detector()
    img = torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8)
    labeled = {"img": img, "targets": torch.tensor([[0, 1, 0.5, 0.5, 0.3, 0.3]])}

    def grads(with_hook: bool) -> list[torch.Tensor]:
        m = _tiny_detector()
        m.load_state_dict(model.state_dict())
        hooks = []
        if with_hook:
            hook = DenseTeacherHook(ratio=0.05)
            hook.teacher = ModelEMA(m, tau=0.0)
            hook.teacher_ready = True
            hook.stream = _Stream({"img": img, "img_strong": img})
            hooks.append(hook)
        runner = _runner(m, hooks)
        runner.optimizer = torch.optim.SGD(m.parameters(), lr=0.0)
        kept = []
        runner.call = lambda event, *args: (
            [getattr(h, event)(runner, *args) for h in hooks if hasattr(h, event)],
            kept.extend(p.grad.clone() for p in m.parameters()) if event == "after_backward" else None,
        )
        step = TrainStep()
        step.setup(runner)
        for h in hooks:
            h.before_step(runner)
        step.step(runner, labeled)
        return kept

    plain, semi = grads(False), grads(True)
    assert len(plain) == len(semi)
    assert any(not torch.equal(a, b) for a, b in zip(plain, semi))


def _varied_tiny_detector() -> torch.nn.Module:
    """A tiny detector with its predictors off their constant initialisation (varied scores:
    the two views of an image disagree, the teacher's scores spread)."""
    model = _tiny_detector()
    with torch.no_grad():
        for conv in [*model.head.cls_preds, *model.head.reg_preds]:
            conv.weight.normal_(0.0, 0.1)
    return model


@pytest.mark.parametrize("name", ["ARSLHook", "PseudoBoxHook"])
def test_arsl_and_pseudo_box_add_a_trained_term(name: str) -> None:
    from detreg.registry import HOOKS

    torch.manual_seed(0)
    model = _varied_tiny_detector()
    kwargs = {"score_thr": 0.001} if name == "PseudoBoxHook" else {}
    hook = HOOKS.get(name)(**kwargs)
    hook.teacher = ModelEMA(model, tau=0.0)
    hook.teacher_ready = True
    img = torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8)
    hook.stream = _Stream({"img": img, "img_strong": img.flip(-1)})  # the views differ
    runner = _runner(model, [hook])
    step = TrainStep()
    step.setup(runner)
    hook.before_step(runner)
    out = step.step(runner, {"img": img, "targets": torch.tensor([[0, 1, 0.5, 0.5, 0.3, 0.3]])})
    assert out["unsup"] > 0
    assert all(p.grad is None for p in hook.teacher.module.parameters())
    loss = model.loss
    assert not any(type(getattr(loss, a, None)).__name__ == "ScoredAssigner" for a in vars(loss))


def test_pseudo_box_without_boxes_adds_zero_but_runs_the_student() -> None:
    from detreg.hooks.pseudo_box import PseudoBoxHook

    model = _tiny_detector()
    hook = PseudoBoxHook(score_thr=1.0)  # nothing scores 1.0
    hook.teacher = ModelEMA(model, tau=0.0)
    img = torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8).float() / 255
    loss, parts = hook.unsup_loss(_runner(model, []), img, img)
    assert float(loss) == 0.0 and parts["boxes"] == 0.0 and loss.requires_grad
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())  # DDP sees every parameter


class _NaNDenseTeacher(DenseTeacherHook):
    """Runs the student on the strong view (updating BN) and returns a NaN loss."""

    def unsup_loss(self, runner: Any, weak: torch.Tensor, strong: torch.Tensor) -> tuple:
        loss, parts = super().unsup_loss(runner, weak, strong * 50.0)  # BN sees very different data
        return loss * float("nan"), parts


def test_a_non_finite_unsupervised_loss_is_skipped_and_the_supervised_step_still_trains(caplog) -> None:
    torch.manual_seed(0)
    img = torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8)
    labeled = {"img": img, "targets": torch.tensor([[0, 1, 0.5, 0.5, 0.3, 0.3]])}
    init = _tiny_detector().state_dict()

    def one_step(hooks: list) -> tuple[torch.nn.Module, dict]:
        model = _tiny_detector()
        model.load_state_dict(init)
        for hook in hooks:
            hook.teacher = ModelEMA(model, tau=0.0)
            hook.teacher_ready = True
            hook.stream = _Stream({"img": img, "img_strong": img})
        runner = _runner(model, hooks)
        step = TrainStep()
        step.setup(runner)
        for hook in hooks:
            hook.before_step(runner)
        return model, step.step(runner, labeled)

    plain, _ = one_step([])
    with caplog.at_level(logging.WARNING, logger="test_semi"):
        guarded, out = one_step([_NaNDenseTeacher(ratio=0.05)])
    assert "non-finite unsupervised loss" in caplog.text
    assert out["unsup"] == 0.0 and torch.isfinite(torch.tensor(out["loss"]))
    # the step was taken (weights moved) exactly as without the hook, BN statistics included
    same(plain.state_dict(), guarded.state_dict(), "supervised-only step")
    assert not torch.equal(guarded.state_dict()["head.cls_preds.0.weight"], init["head.cls_preds.0.weight"])


def test_vfl_neg_weight_scales_only_the_background_term() -> None:
    from detreg.losses.varifocal import VarifocalLoss

    torch.manual_seed(0)
    pred = torch.randn(2, 5, 3)
    label = torch.zeros(2, 5, 3)
    label[0, 1, 2] = 1.0
    score = label * 0.8
    vfl = VarifocalLoss()
    plain = vfl(pred, score, label)
    assert torch.allclose(vfl(pred, score, label, neg_weight=torch.ones(2, 5, 1)), plain)
    only_pos = vfl(pred, score, label, neg_weight=torch.zeros(2, 5, 1))
    bce = torch.nn.functional.binary_cross_entropy_with_logits(pred, score, reduction="none")
    assert torch.allclose(only_pos, (bce * score * label).sum())  # the positive term alone
    half = vfl(pred, score, label, neg_weight=torch.full((2, 5, 1), 0.5))
    assert torch.allclose(half, only_pos + 0.5 * (plain - only_pos))


def test_pseudo_box_ignore_thr_leaves_unsure_anchors_out_of_the_background_loss(monkeypatch) -> None:
    from detreg.hooks.pseudo_box import NegWeightedClsLoss, PseudoBoxHook

    torch.manual_seed(0)
    model = _varied_tiny_detector()
    img = torch.rand(2, 3, 64, 64)
    calls: list[torch.Tensor] = []
    forward = NegWeightedClsLoss.forward

    def spy(self, pred, target_score, label):
        calls.append(self.neg_weight.clone())
        return forward(self, pred, target_score, label)

    monkeypatch.setattr(NegWeightedClsLoss, "forward", spy)

    def unsup(ignore_thr: float | None) -> tuple[float, dict]:
        hook = PseudoBoxHook(score_thr=0.001, ignore_thr=ignore_thr)
        hook.teacher = ModelEMA(model, tau=0.0)
        loss, parts = hook.unsup_loss(_runner(model, []), img, img)
        assert type(model.loss.cls_loss).__name__ == "VarifocalLoss"  # restored
        return float(loss.detach()), parts

    plain, _ = unsup(None)
    assert not calls
    with torch.no_grad():
        scores = model.eval()(img)[..., 4:].amax(-1)
    model.train()
    mid = float(scores.median())
    some, parts = unsup(mid)
    assert calls and torch.equal(calls[0], (scores < mid).float())  # the teacher's unsure anchors
    assert 0.3 < parts["ignored"] < 0.7
    low, _ = unsup(0.001)  # every anchor scores above: no background term at all
    assert low < some < plain  # less background loss as more anchors are left out
