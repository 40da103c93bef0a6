"""Loss terms from hooks: a third-party hook adds a term; it is trained on and logged everywhere.

The hooks here are written the way a plugin would write them: only the public contract
(``after_forward``, ``runner.step_record``, ``runner.storage``), no runner change.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from detreg.engine import Hook
from detreg.engine.hook import RunnerContract
from detreg.engine.runner import Runner
from detreg.engine.step import TrainStep
from detreg.launch import CONFIG_DIR, prepare_config


class WeightPenaltyHook(Hook):
    """Adds ``kd_l2 = weight * sum(p^2)``: a term whose gradient is known exactly."""

    def __init__(self, weight: float = 0.5) -> None:
        self.weight = weight
        self.seen_autocast: list[bool] = []

    def after_forward(self, runner: RunnerContract) -> None:
        record = runner.step_record
        self.seen_autocast.append(torch.is_autocast_enabled("cpu"))
        penalty = sum((p**2).sum() for p in runner.unwrapped_model.parameters())
        record.add_loss("kd_l2", self.weight * penalty)


class ScalarHook(Hook):
    """Puts a plain scalar (not a loss) into the storage: it must reach every writer too."""

    def after_forward(self, runner: RunnerContract) -> None:
        runner.storage.put_scalar("kd_agree", 0.25)


def _step_runner(model: nn.Module, hooks: list[Hook]) -> SimpleNamespace:
    runner = SimpleNamespace(
        model=model,
        unwrapped_model=model,
        device=torch.device("cpu"),
        cfg={"train": {"amp": False}},
        logger=__import__("logging").getLogger("test_loss_terms"),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
        epoch=0,
        iter=0,
        accumulate=1,
        world_size=1,
        step_record=None,
    )
    runner.call = lambda event, *args: [getattr(h, event)(runner, *args) for h in hooks]
    return runner


class Quadratic(nn.Module):
    """loss = sum(w * x): gradient x, so a penalty's gradient is easy to separate."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))

    def forward(self, images: torch.Tensor, targets: torch.Tensor, epoch: int = 0) -> dict:
        loss = (self.w * images.mean((0, 2, 3))).sum()
        return {"loss": loss, "main": loss.detach()}


def _grad_after_step(hooks: list[Hook]) -> tuple[torch.Tensor, dict]:
    model = Quadratic()
    runner = _step_runner(model, hooks)
    grads = []
    runner.call = lambda event, *args: (
        [getattr(h, event)(runner, *args) for h in hooks if hasattr(h, event)],
        grads.append(model.w.grad.clone()) if event == "after_backward" else None,
    )
    step = TrainStep()
    step.setup(runner)
    batch = {"img": torch.full((2, 3, 4, 4), 255, dtype=torch.uint8), "targets": torch.zeros(0, 6)}
    out = step.step(runner, batch)
    return grads[0], out


def test_a_hook_term_changes_the_gradient_exactly_and_is_logged_apart() -> None:
    base_grad, base_out = _grad_after_step([])
    grad, out = _grad_after_step([WeightPenaltyHook(weight=0.5)])
    w = torch.tensor([1.0, -2.0, 3.0])
    torch.testing.assert_close(base_grad, torch.ones(3))  # d(sum(w * 1))/dw
    torch.testing.assert_close(grad, base_grad + w, rtol=0, atol=0)  # + d(0.5 * |w|^2)/dw = w
    assert base_out == {"loss": 2.0, "main": 2.0}  # no term: the model's loss dict unchanged
    assert out["kd_l2"] == pytest.approx(0.5 * 14.0)  # logged under its own name
    assert out["main"] == 2.0 and out["loss"] == pytest.approx(2.0 + 7.0)  # loss is the total


def test_add_loss_rejects_clashes_and_non_scalars() -> None:
    class Clash(Hook):
        def after_forward(self, runner: RunnerContract) -> None:
            runner.step_record.add_loss("main", torch.zeros(()))

    with pytest.raises(ValueError, match="loss term 'main' already exists"):
        _grad_after_step([Clash()])

    class Vector(Hook):
        def after_forward(self, runner: RunnerContract) -> None:
            runner.step_record.add_loss("v", torch.zeros(3))

    with pytest.raises(TypeError, match="one-element tensor"):
        _grad_after_step([Vector()])


def test_a_non_finite_term_skips_the_step() -> None:
    class Bad(Hook):
        def after_forward(self, runner: RunnerContract) -> None:
            runner.step_record.add_loss("kd_bad", torch.tensor(float("nan"), requires_grad=True))

    model = Quadratic()
    runner = _step_runner(model, [Bad()])
    step = TrainStep()
    step.setup(runner)
    batch = {"img": torch.full((2, 3, 4, 4), 255, dtype=torch.uint8), "targets": torch.zeros(0, 6)}
    out = step.step(runner, batch)
    assert out["skipped"] == 1 and model.w.grad is None and runner.step_record is None


def test_term_is_computed_under_the_steps_autocast() -> None:
    hook = WeightPenaltyHook()
    model = Quadratic()
    runner = _step_runner(model, [hook])
    step = TrainStep(amp_dtype="bfloat16")
    runner.cfg = {"train": {"amp": True}}
    step.setup(runner)
    batch = {"img": torch.full((2, 3, 4, 4), 255, dtype=torch.uint8), "targets": torch.zeros(0, 6)}
    step.step(runner, batch)
    assert hook.seen_autocast == [True]


def test_third_party_hook_scalars_reach_every_output(toy_config, capsys: pytest.CaptureFixture) -> None:
    """A plugin hook's loss term and scalar appear in metrics.jsonl, TensorBoard and the progress
    output, with no writer knowing their names; the term changes what is trained."""
    hooks = f"""\
    kd: {{type: {__name__}.WeightPenaltyHook, weight: 0.01}}
    agree: {{type: {__name__}.ScalarHook}}
    tensorboard: {{type: TensorBoardHook, interval: 1}}
    """
    path = toy_config(hooks)
    runner = Runner(prepare_config(path, ["train.deterministic=true"]))
    runner.train()
    out = capsys.readouterr().out

    records = [json.loads(line) for line in (runner.work_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(r["kd_l2"] > 0 and r["kd_agree"] == pytest.approx(0.25) for r in records)
    assert all(r["loss"] == pytest.approx(r["box"] + r["cls"] + r["kd_l2"], rel=1e-5) for r in records)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(runner.work_dir / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/kd_l2", "train/kd_agree", "train_step/kd_l2"} <= tags

    assert "kd_l2" in out and "kd_agree 0.2500" in out  # step lines and epoch lines

    baseline = Runner(
        prepare_config(
            toy_config(""),
            ["train.deterministic=true", "work_dir=" + str(Path(runner.work_dir).parent / "base")],
        )
    )
    baseline.train()
    a, b = runner.unwrapped_model.state_dict(), baseline.unwrapped_model.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


def test_detector_exposes_raw_outputs_without_changing_the_loss(tiny_data: Path) -> None:
    """What distillation needs: per-level neck features, class logits, box distributions."""
    cfg = prepare_config(CONFIG_DIR / "yolov6n.yaml", ["train.img_size=64"], data=tiny_data)
    from detreg.registry import MODELS

    torch.manual_seed(0)
    model = MODELS.build(cfg.data["model"], "model", {"num_classes": 2})
    images = torch.rand(2, 3, 64, 64)
    targets = torch.tensor([[0, 1, 0.5, 0.5, 0.3, 0.3], [1, 0, 0.4, 0.4, 0.2, 0.5]])
    plain = model(images, targets)
    losses, outputs = model(images, targets, return_outputs=True)
    for k in plain:
        torch.testing.assert_close(plain[k], losses[k], rtol=0, atol=0)
    assert [f.shape[-1] for f in outputs["feats"]] == [64 // s for s in model.strides]
    anchors = sum((64 // s) ** 2 for s in model.strides)
    assert outputs["cls"].shape == (2, anchors, 2) and outputs["reg"].shape[:2] == (2, anchors)
    assert outputs["cls"].requires_grad  # a distillation loss on them reaches the student


def _plugins_doc_example() -> type:
    """The distillation-style hook printed in docs/plugins.md, loaded as a module."""
    import re
    import sys
    import types

    text = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "MeanTeacherImitationHook" in b)
    name = "plugins_doc_example"
    if name not in sys.modules:
        module = types.ModuleType(name)
        exec(compile(code, "docs/plugins.md", "exec"), module.__dict__)  # noqa: S102 - our own docs
        sys.modules[name] = module
    return sys.modules[name].MeanTeacherImitationHook


def test_the_plugins_doc_example_trains_logs_and_checkpoints(tiny_data: Path, tmp_path: Path) -> None:
    """docs/plugins.md's hook on a real YOLOv6-N: a loss term on the neck features, a scalar,
    and its own checkpoint entry, with no change to detreg."""
    from detreg.engine.checkpoint import load_checkpoint

    _plugins_doc_example()
    overrides = [
        f"work_dir={tmp_path / 'run'}",
        "train.img_size=64",
        "train.batch_size=4",
        "train.epochs=1",
        "train.workers=0",
        "train.amp=false",
        "hooks.eval=null",
        "hooks.best=null",
        "hooks.tensorboard=null",
        "hooks.images=null",
        "hooks.kd={type: plugins_doc_example.MeanTeacherImitationHook, weight: 2.0}",
    ]
    runner = Runner(prepare_config(CONFIG_DIR / "yolov6n.yaml", overrides, data=tiny_data))
    runner.train()
    record = json.loads((runner.work_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["kd_feat"] > 0 and record["kd_weight"] == 2.0
    ckpt = load_checkpoint(runner.work_dir / "last.pt")
    assert set(ckpt["teacher"]["module"]) == set(ckpt["model"]) and ckpt["teacher"]["updates"] > 0
