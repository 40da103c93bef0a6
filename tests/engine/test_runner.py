"""Runner and hooks: event order, priorities, state in checkpoints, failures, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import toy_components

from detreg.engine.checkpoint import load_checkpoint, save_checkpoint
from detreg.engine.runner import Runner
from detreg.errors import DetregError
from detreg.events import EVENTS
from detreg.launch import prepare_config


def run(cfg_path: Path, overrides: list[str] = (), resume: Path | None = None) -> Runner:
    runner = Runner(prepare_config(cfg_path, list(overrides)), resume=resume)
    runner.train()
    return runner


HOOKS_ABC = """\
a: {type: toy_components.RecordingHook, label: a}
b: {type: toy_components.RecordingHook, label: b, priority: 10}
c: {type: toy_components.RecordingHook, label: c}
val: {type: toy_components.ValidateEveryEpochHook}
"""


def test_every_event_fires_in_priority_then_config_order(toy_config) -> None:
    toy_components.CALLS.clear()
    run(toy_config(HOOKS_ABC))
    events = [e for _, e in toy_components.CALLS]
    assert set(EVENTS) <= set(events)
    for event in set(events):
        labels = [label for label, e in toy_components.CALLS if e == event]
        n = len(labels) // 3
        assert labels == ["b", "a", "c"] * n, event  # b has priority 10; a and c tie in config order
    order = []
    for e in events:
        if not order or order[-1] != e:
            order.append(e)
    assert order[:4] == ["before_run", "configure_model", "before_train", "before_epoch"]
    assert order[-2:] == ["after_train", "after_run"]
    # optimizer steps only after the backward of the same step; val inside after_epoch
    assert (
        events.index("before_step")
        < events.index("after_forward")
        < events.index("after_backward")
        < events.index("after_optimizer_step")
        < events.index("after_step")
    )
    assert events.index("before_val") < events.index("after_val") < events.index("after_train")


def test_after_run_and_on_exception_fire_and_error_names_the_hook(toy_config) -> None:
    toy_components.CALLS.clear()
    path = toy_config("bad: {type: toy_components.RecordingHook, label: x, fail_on: before_epoch}\n")
    with pytest.raises(RuntimeError, match="boom in before_epoch") as info:
        run(path)
    assert "in hook 'bad' (RecordingHook) during before_epoch" in info.value.__notes__
    events = [e for _, e in toy_components.CALLS]
    assert events[-2:] == ["on_exception", "after_run"]
    assert "after_train" not in events


def test_hook_state_round_trips_through_checkpoint(toy_config, tmp_path: Path) -> None:
    path = toy_config(HOOKS_ABC)
    first = run(path)
    ckpt = load_checkpoint(first.work_dir / "last.pt")
    assert ckpt["hooks"]["a"] == {"count": 2 * 3}  # 12 images / batch 4 = 3 steps x 2 epochs
    assert ckpt["epoch"] == 2 and ckpt["iter"] == 6
    assert set(ckpt) >= {"model", "optimizer", "scheduler", "train_step", "hooks", "epoch", "iter", "config"}
    # no EMAHook: no "ema" entry (EMAHook adds it); the GradScaler state is saved once, by the step
    assert "ema" not in ckpt and "scaler" not in ckpt and "scaler" in ckpt["train_step"]
    resumed = run(path, ["train.epochs=3"], resume=first.work_dir / "last.pt")
    hooks = dict(resumed.hooks)
    assert hooks["a"].count == 6 + 3 and resumed.iter == 9


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(toy_config, tmp_path: Path) -> None:
    hooks = "val: {type: toy_components.ValidateEveryEpochHook}\n"
    path = toy_config(hooks, epochs=4)
    full = run(path, [f"work_dir={tmp_path / 'full'}", "train.deterministic=true"])
    part = run(path, [f"work_dir={tmp_path / 'part'}", "train.epochs=2", "train.deterministic=true"])
    resumed = run(
        path, [f"work_dir={tmp_path / 'part'}", "train.deterministic=true"], resume=part.work_dir / "last.pt"
    )
    a, b = full.unwrapped_model.state_dict(), resumed.unwrapped_model.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_weights_only_refuses_pickled_objects(tmp_path: Path) -> None:
    torch.save({"model": torch.nn.Linear(2, 2)}, tmp_path / "bad.pt")
    with pytest.raises(DetregError, match="refusing to load: it holds a pickled Python object \\(torch.nn"):
        load_checkpoint(tmp_path / "bad.pt")
    save_checkpoint({"model": torch.nn.Linear(2, 2).state_dict()}, tmp_path / "ok.pt")
    assert "weight" in load_checkpoint(tmp_path / "ok.pt")["model"]


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "last.pt"
    save_checkpoint({"v": torch.tensor(1)}, target)

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(DetregError, match="disk full; the previous last.pt is intact"):
        save_checkpoint({"v": torch.tensor(2)}, target)
    monkeypatch.undo()
    assert load_checkpoint(target)["v"].item() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_nonfinite_losses_stop_with_a_clear_message(toy_config) -> None:
    path = toy_config(extra="", epochs=1)
    with pytest.raises(DetregError, match="loss was not finite for 2 steps in a row"):
        run(path, ["model.loss_scale=.nan", "train.step.max_nonfinite=2"])
