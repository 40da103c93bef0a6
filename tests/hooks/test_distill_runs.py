"""DistillHook in real runs: the checkpoint holds the plain student, and resume is exact.

A DFL YOLOv6-N student is taught by a (random, saved) DFL YOLOv6-N teacher with forced
connectors, so the connectors' weights, BN statistics and optimizer state all have to
survive a crash and resume (atol 0).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from detreg.engine.checkpoint import load_checkpoint, load_model_state
from detreg.engine.runner import Runner
from detreg.launch import CONFIG_DIR, prepare_config
from detreg.registry import MODELS
from tests.engine.test_resume_yolov6 import assert_same_state, yolov6n_overrides
from tests.hooks.test_distill import N_DFL, one_thread, saved_teacher  # noqa: F401 - fixture

EPOCHS = 3


def run(data: Path, work_dir: Path, teacher: Path | None, crash=None, resume=None, extra=()) -> Runner:
    overrides = yolov6n_overrides(data, work_dir, 1, crash) + [
        f"train.epochs={EPOCHS}",
        "hooks.eval=null",
        "hooks.best=null",
        "hooks.tensorboard=null",
        "hooks.images=null",
        *extra,
    ]
    if teacher is not None:
        hook = f"type: DistillHook, teacher: {N_DFL}, teacher_weights: {teacher}, connectors: true"
        overrides.append(f"hooks.distill={{{hook}}}")
    runner = Runner(prepare_config(CONFIG_DIR / N_DFL, overrides), resume=resume)
    runner.train()
    return runner


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return saved_teacher(tmp_path_factory.mktemp("teacher") / "t.pt", num_classes=6)  # tiny_data's


@pytest.fixture(scope="module")
def full(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory, teacher: Path) -> Runner:
    return run(tiny_data, tmp_path_factory.mktemp("full"), teacher)


def test_checkpoint_holds_exactly_a_plain_student(tiny_data: Path, tmp_path: Path, full: Runner) -> None:
    plain = run(tiny_data, tmp_path / "plain", None, extra=["train.epochs=1"])
    a, b = load_checkpoint(full.work_dir / "last.pt"), load_checkpoint(plain.work_dir / "last.pt")
    assert set(a) == set(b)
    assert list(a["model"]) == list(b["model"])
    assert list(a["ema"]["module"]) == list(b["ema"]["module"])
    assert set(a["hooks"]) - set(b["hooks"]) == {"distill"}  # the connectors live there
    assert set(a["hooks"]["distill"]["connectors"]) == set(
        dict(full.hooks)["distill"].connectors.state_dict()
    )
    model = MODELS.build(full.config.data["model"], context={"num_classes": full.context["num_classes"]})
    load_model_state(model, a["model"], "last.pt")  # what detreg-eval/export do: no error
    metrics = (full.work_dir / "metrics.jsonl").read_text()
    assert all(f'"{k}"' in metrics for k in ("kd_cls", "kd_dfl", "kd_feat", "kd_weight"))


def test_crash_and_resume_equals_uninterrupted_run(
    tiny_data: Path, tmp_path: Path, full: Runner, teacher: Path
) -> None:
    with pytest.raises(KeyboardInterrupt, match="simulated crash before epoch 2"):
        run(tiny_data, tmp_path / "part", teacher, crash=2)
    resumed = run(tiny_data, tmp_path / "part", teacher, resume=tmp_path / "part" / "last.pt")
    assert resumed.iter == full.iter == 3 * EPOCHS
    assert_same_state(full.unwrapped_model.state_dict(), resumed.unwrapped_model.state_dict(), "model")
    ha, hb = dict(full.hooks), dict(resumed.hooks)
    assert_same_state(ha["ema"].ema.module.state_dict(), hb["ema"].ema.module.state_dict(), "ema")
    assert_same_state(
        ha["distill"].connectors.state_dict(), hb["distill"].connectors.state_dict(), "connectors"
    )
    opt_a, opt_b = full.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert len(opt_a["param_groups"]) == len(opt_b["param_groups"]) == 6
    for sa, sb in zip(opt_a["state"].values(), opt_b["state"].values()):
        assert_same_state(sa, sb, "optimizer state")
    teacher_state = load_checkpoint(teacher)["model"]
    assert_same_state(teacher_state, hb["distill"].teacher.state_dict(), "teacher")
    assert torch.equal(
        ha["distill"].teacher.head.cls_preds[0].weight, hb["distill"].teacher.head.cls_preds[0].weight
    )
