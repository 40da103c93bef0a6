"""DistillHook on real YOLOv6-N models at 64 px: a frozen, untouched teacher; KD terms that
train the student; the connectors trained but kept out of the student's checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from detreg.config import load_config
from detreg.engine.hook import overridden_events
from detreg.engine.step import TrainStep
from detreg.engine.storage import EpochStorage
from detreg.errors import ConfigError
from detreg.hooks.distill import DistillHook
from detreg.launch import CONFIG_DIR
from detreg.optim.optimizers import SGD
from detreg.optim.param_groups import add_module_param_groups
from detreg.registry import MODELS
from tests.models.model_helpers import randomize

N_DFL = "distill/yolov6n_dfl.yaml"
S_DFL = "distill/yolov6s_dfl.yaml"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: fast and steady on a loaded 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def model_cfg(name: str, **head: object) -> dict:
    cfg = load_config(CONFIG_DIR / name).data["model"]
    cfg["head"].update(head)
    return cfg


def saved_teacher(path: Path, name: str = N_DFL, seed: int = 1, num_classes: int = 2, **head: object) -> Path:
    """A teacher with random (non-trivial) weights, saved as a detreg checkpoint."""
    torch.manual_seed(seed)
    teacher = randomize(MODELS.build(model_cfg(name, **head), context={"num_classes": num_classes}), seed)
    torch.save({"model": teacher.state_dict()}, path)
    return path


class Setup(SimpleNamespace):
    """A student, a configured DistillHook, an optimizer and a train step, runner-like."""


def setup(tmp_path: Path, teacher: str = N_DFL, amp: bool = False, **hook_args: object) -> Setup:
    torch.manual_seed(0)
    student = MODELS.build(model_cfg(N_DFL), context={"num_classes": 2})
    weights = saved_teacher(tmp_path / "t.pt", teacher, **hook_args.pop("teacher_head", {}))
    hook = DistillHook(teacher=teacher, teacher_weights=str(weights), **hook_args)
    trainables = []
    r = Setup(
        model=student,
        unwrapped_model=student,
        device=torch.device("cpu"),
        cfg={"train": {"amp": amp}, "model": model_cfg(N_DFL)},
        context={"num_classes": 2},
        logger=logging.getLogger("test_distill"),
        epoch=0,
        max_epochs=10,
        iter=0,
        accumulate=1,
        world_size=1,
        step_record=None,
        storage=EpochStorage(0),
    )
    r.add_trainable = lambda name, module: trainables.append(module)
    r.call = lambda event, *a: (
        getattr(hook, event)(r, *a) if event in overridden_events(DistillHook) else None
    )
    hook.before_run(r)
    hook.configure_model(r)
    r.optimizer = SGD(student, lr=0.01)
    for m in trainables:
        add_module_param_groups(r.optimizer, m, "distill")
    r.step = TrainStep(amp_dtype="bfloat16" if amp else None)
    r.step.setup(r)
    r.hook, r.trainables = hook, trainables
    return r


def batch() -> dict:
    g = torch.Generator().manual_seed(3)
    img = (torch.rand(2, 3, 64, 64, generator=g) * 255).to(torch.uint8)
    targets = torch.tensor(
        [[0, 1, 0.5, 0.5, 0.4, 0.3], [1, 0, 0.3, 0.6, 0.2, 0.5], [1, 1, 0.7, 0.3, 0.3, 0.3]]
    )
    return {"img": img, "targets": targets}


def test_teacher_gets_no_gradient_and_stays_bit_identical(tmp_path: Path) -> None:
    r = setup(tmp_path)
    teacher = r.hook.teacher
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    student_before = {k: v.clone() for k, v in r.model.state_dict().items()}
    out = r.step.step(r, batch())
    assert all(p.grad is None for p in teacher.parameters())
    after = teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN running stats included
    assert not teacher.training
    assert out["kd_cls"] > 0 and out["kd_dfl"] > 0 and out["kd_feat"] > 0
    assert out["loss"] == pytest.approx(
        out["cls"] + out["iou"] + out["dfl"] + sum(out[k] for k in ("kd_cls", "kd_dfl", "kd_feat")), rel=1e-5
    )
    assert r.storage.latest["kd_weight"] == 1.0
    changed = [k for k, v in r.model.state_dict().items() if not torch.equal(v, student_before[k])]
    assert changed and r.trainables == []  # equal widths: no connectors by default


def test_terms_follow_the_weight_and_stop_in_the_last_epochs(tmp_path: Path) -> None:
    r = setup(tmp_path, stop_last_epochs=2)
    assert r.hook.weight(0, 10) == 1.0 and r.hook.weight(5, 10) == pytest.approx(0.505)
    assert r.hook.weight(7, 10) > 0 and r.hook.weight(8, 10) == 0.0 == r.hook.weight(9, 10)
    calls = []
    r.hook.teacher.backbone.register_forward_hook(lambda *a: calls.append(1))
    r.epoch = 9
    out = r.step.step(r, batch())
    assert calls == [] and out["kd_cls"] == out["kd_dfl"] == out["kd_feat"] == 0.0
    r.epoch = 5
    half = r.step.step(r, batch())
    assert calls == [1] and r.storage.latest["kd_weight"] == pytest.approx(0.505) and half["kd_feat"] > 0


def test_bigger_teacher_gets_trained_connectors(tmp_path: Path) -> None:
    r = setup(tmp_path, teacher=S_DFL)
    (conn,) = r.trainables
    assert conn is r.hook.connectors
    assert [m[0].out_channels for m in conn.levels] == [64, 128, 256]  # S's neck widths
    in_optimizer = {id(p) for g in r.optimizer.param_groups for p in g["params"]}
    assert all(id(p) in in_optimizer for p in conn.parameters())
    names = [g["name"] for g in r.optimizer.param_groups]
    assert names == ["norm", "weight", "bias", "norm", "weight", "bias"]  # settings of the same kind
    w0 = conn.levels[0][0].weight.clone()
    out = r.step.step(r, batch())
    assert out["kd_feat"] > 0 and not torch.equal(conn.levels[0][0].weight, w0)
    assert set(r.hook.state_dict()["connectors"]) == set(conn.state_dict())
    assert not any(k.startswith("distill") for k in r.model.state_dict())


def test_teacher_runs_under_the_students_autocast(tmp_path: Path) -> None:
    r = setup(tmp_path, amp=True)
    seen = []
    r.hook.teacher.backbone.register_forward_hook(
        lambda m, i, o: seen.append(torch.is_autocast_enabled("cpu"))
    )
    out = r.step.step(r, batch())
    assert seen == [True] and all(out[k] == out[k] for k in ("kd_cls", "kd_dfl", "kd_feat"))


def test_anchor_aided_teacher_is_usable(tmp_path: Path) -> None:
    r = setup(tmp_path, teacher_head={"fuse_ab": True})
    out = r.step.step(r, batch())
    assert out["kd_cls"] > 0 and out["kd_dfl"] > 0


def test_config_mistakes_are_one_line_before_data(tmp_path: Path) -> None:
    weights = str(saved_teacher(tmp_path / "t.pt"))
    with pytest.raises(ValueError, match="teacher: config not found: nothere.yaml"):
        DistillHook(teacher="nothere.yaml", teacher_weights=weights)
    hook = DistillHook(teacher="yolov6n", teacher_weights=weights)  # no DFL in the teacher
    runner = SimpleNamespace(cfg={"model": model_cfg(N_DFL)})
    with pytest.raises(ConfigError, match="teacher's head has use_dfl false.*dfl_weight=0"):
        hook.before_run(runner)
    DistillHook(teacher="yolov6n", teacher_weights=weights, dfl_weight=0).before_run(runner)
    runner = SimpleNamespace(cfg={"model": model_cfg("yolov6n.yaml")})
    with pytest.raises(ConfigError, match="student's head has use_dfl false"):
        DistillHook(teacher=N_DFL, teacher_weights=weights).before_run(runner)
    with pytest.raises(ValueError, match="teacher.head.use_dfll: EffiDeHead has no argument 'use_dfll'"):
        DistillHook(
            teacher={**model_cfg(N_DFL), "head": {"type": "EffiDeHead", "use_dfll": 1}},
            teacher_weights=weights,
        )
