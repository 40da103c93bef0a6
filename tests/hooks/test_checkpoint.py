"""CheckpointHook / BestCheckpointHook: contents, epoch copies, best selection, stripping."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from detreg.engine import Hook
from detreg.engine.checkpoint import load_checkpoint, save_checkpoint
from detreg.engine.runner import Runner
from detreg.hooks.checkpoint import BestCheckpointHook, strip_checkpoint
from detreg.launch import prepare_config

CONTRACT_KEYS = {
    "model",
    "ema",
    "optimizer",
    "scheduler",
    "train_step",  # holds the GradScaler state (no top-level "scaler" since it is saved once)
    "hooks",
    "epoch",
    "iter",
    "config",
    "versions",
}


def run(path: Path, overrides: list[str] = ()) -> Runner:
    runner = Runner(prepare_config(path, ["hooks.logger=null", *overrides]))
    runner.train()
    return runner


def test_last_pt_holds_the_contract_keys_as_plain_state(toy_config) -> None:
    runner = run(toy_config("ema: {type: EMAHook, tau: 5}\n", extra="scheduler: {type: CosineLR}\n"))
    path = runner.work_dir / "last.pt"
    ckpt = torch.load(path, map_location="cpu", weights_only=True)  # plain state only
    assert CONTRACT_KEYS <= set(ckpt)
    assert ckpt["epoch"] == 2 and ckpt["iter"] == 6  # 12 images / batch 4, 2 epochs
    assert ckpt["model"].keys() == runner.unwrapped_model.state_dict().keys()
    assert ckpt["ema"]["updates"] == 6 and ckpt["ema"]["module"].keys() == ckpt["model"].keys()
    assert ckpt["optimizer"]["state"] and ckpt["scheduler"] is not None
    assert ckpt["config"]["train"]["epochs"] == 2 and ckpt["versions"]["torch"] == str(torch.__version__)
    assert isinstance(ckpt["hooks"], dict)
    assert not any(p.name.endswith(".tmp") for p in runner.work_dir.iterdir())  # no temp files left


def test_epoch_copies_for_the_last_n_and_every_interval(toy_config) -> None:
    runner = run(toy_config(epochs=5), ["hooks.checkpoint.save_last_n=2", "hooks.checkpoint.interval=2"])
    files = sorted(p.name for p in runner.work_dir.glob("*.pt"))
    assert files == ["epoch_2.pt", "epoch_4.pt", "epoch_5.pt", "last.pt"]  # 1-based epoch numbers
    assert load_checkpoint(runner.work_dir / "epoch_2.pt")["epoch"] == 2
    assert load_checkpoint(runner.work_dir / "epoch_5.pt")["epoch"] == 5


def test_no_epoch_copies_by_default(toy_config) -> None:
    runner = run(toy_config(epochs=3))
    assert sorted(p.name for p in runner.work_dir.glob("*.pt")) == ["last.pt"]


# ---------------------------------------------------------------- best selection (fake runner)
def fake_runner(tmp_path: Path, max_epochs: int = 10) -> SimpleNamespace:
    saved: list[tuple[int, str, float]] = []
    runner = SimpleNamespace(
        epoch=0,
        max_epochs=max_epochs,
        metrics={},
        work_dir=tmp_path,
        is_main=True,
        logger=logging.getLogger("test"),
        saved=saved,
    )
    runner.checkpoint_state = lambda: {"epoch": runner.epoch + 1}
    runner.save_checkpoint = lambda path, state: saved.append(
        (runner.epoch, path.name, state["best_fitness"])
    )
    return runner


def feed(hook: BestCheckpointHook, runner: SimpleNamespace, values: dict[int, float]) -> None:
    for epoch, value in values.items():
        runner.epoch = epoch
        runner.metrics = {"mAP50_95": value}
        hook.after_val(runner)


def test_best_ties_count_and_stop_aug_best_is_strict_and_in_window(tmp_path: Path) -> None:
    runner = fake_runner(tmp_path, max_epochs=10)
    hook = BestCheckpointHook(stop_aug_epochs=3)  # window: 0-based epochs 7, 8, 9
    feed(hook, runner, {0: 0.1, 1: 0.3, 2: 0.2, 3: 0.3, 6: 0.5, 7: 0.4, 8: 0.4, 9: 0.45})
    best = [(e, v) for e, name, v in runner.saved if name == "best.pt"]
    window = [(e, v) for e, name, v in runner.saved if name == "best_stop_aug.pt"]
    assert best == [(0, 0.1), (1, 0.3), (3, 0.3), (6, 0.5)]  # a tie (epoch 3) is saved again
    assert window == [(7, 0.4), (9, 0.45)]  # epoch 6 is outside; the tie at 8 is not better
    assert hook.state_dict() == {"best": 0.5, "best_stop_aug": 0.45}


def test_best_state_round_trips_and_resume_keeps_comparing(tmp_path: Path) -> None:
    runner = fake_runner(tmp_path)
    first = BestCheckpointHook(stop_aug_epochs=2)
    feed(first, runner, {0: 0.2, 8: 0.25})
    again = BestCheckpointHook(stop_aug_epochs=2)
    again.load_state_dict(first.state_dict())
    assert again.state_dict() == first.state_dict() == {"best": 0.25, "best_stop_aug": 0.25}
    runner.saved.clear()
    feed(again, runner, {9: 0.22})  # worse than both restored bests: nothing written
    assert runner.saved == []


def test_missing_metric_warns_and_saves_nothing(tmp_path: Path, caplog) -> None:
    runner = fake_runner(tmp_path)
    hook = BestCheckpointHook(metric="mAP50")
    runner.metrics = {"mAP50_95": 0.5}
    with caplog.at_level(logging.WARNING, logger="test"):
        hook.after_val(runner)
    assert runner.saved == [] and "no 'mAP50'" in caplog.text


def test_strip_makes_model_the_ema_weights_in_fp16(tmp_path: Path) -> None:
    model, ema = (
        nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)),
        nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.rand(2, 3, 4, 4)).sum().backward()
    opt.step()
    full = {
        "model": model.state_dict(),
        "ema": {"module": ema.state_dict(), "updates": 3},
        "optimizer": opt.state_dict(),
        "scheduler": {"last_epoch": 1},
        "scaler": None,
        "train_step": {"last_opt_step": 0},
        "rng": {"torch": torch.get_rng_state()},
        "hooks": {},
        "epoch": 5,
        "iter": 50,
        "config": {"train": {}},
        "versions": {"torch": "x"},
    }
    save_checkpoint(full, tmp_path / "best.pt")
    hook = BestCheckpointHook()
    hook.after_train(SimpleNamespace(is_main=True, work_dir=tmp_path))
    out = load_checkpoint(tmp_path / "best.pt")
    assert out["stripped"] is True
    assert out["optimizer"] is None and out["ema"] is None and out["scheduler"] is None
    assert "rng" not in out and "train_step" not in out
    assert out["epoch"] == 5 and out["config"] == {"train": {}}
    for k, v in ema.state_dict().items():
        if v.is_floating_point():
            assert out["model"][k].dtype == torch.float16
            torch.testing.assert_close(out["model"][k], v.half(), rtol=0, atol=0)
        else:
            assert torch.equal(out["model"][k], v)
    assert (
        strip_checkpoint({"model": model.state_dict(), "ema": None})["model"].keys()
        == model.state_dict().keys()
    )


def test_training_end_strips_best_but_keeps_last_whole(toy_config) -> None:
    hooks = (
        "ema: {type: EMAHook, tau: 5}\n"
        "val: {type: toy_components.ValidateEveryEpochHook}\n"
        "best: {type: BestCheckpointHook}\n"
    )
    runner = run(toy_config(hooks))
    best = load_checkpoint(runner.work_dir / "best.pt")
    last = load_checkpoint(runner.work_dir / "last.pt")
    assert best["stripped"] and best["optimizer"] is None
    ema = dict(runner.hooks)["ema"].ema.module.state_dict()
    for k, v in best["model"].items():
        torch.testing.assert_close(v, ema[k].half() if v.is_floating_point() else ema[k], rtol=0, atol=0)
    assert last["optimizer"] is not None and last["ema"] is not None and "stripped" not in last


class RisingMetric(Hook):
    """Validates after every epoch (like EvalHook, priority 70) with ``mAP50_95`` from a list."""

    priority = 70

    def __init__(self, values: list[float]) -> None:
        self.values = values

    def after_epoch(self, runner) -> None:
        runner.validate(lambda: {"mAP50_95": self.values[runner.epoch]})


def test_resume_never_overwrites_best_with_a_worse_model(toy_config) -> None:
    """``last.pt`` is written before evaluation, so it holds the best value from before it.

    The best hook does not rewrite it (it knows no other hook); after a resume it reads the
    ``best_fitness`` of its own ``best.pt`` instead. Here 0.15 at epoch 3 is worse than
    0.2 at epoch 2, found after the epoch-2 ``last.pt`` was written.
    """
    hooks = (
        f"metric: {{type: {__name__}.RisingMetric, values: [0.1, 0.2, 0.15]}}\n"
        "best: {type: BestCheckpointHook}\n"
    )
    path = toy_config(hooks, epochs=2)
    first = run(path)
    assert load_checkpoint(first.work_dir / "last.pt")["hooks"]["best"]["best"] == 0.1  # stale on purpose
    resumed = Runner(
        prepare_config(path, ["hooks.logger=null", "train.epochs=3"]), resume=first.work_dir / "last.pt"
    )
    resumed.train()
    assert dict(resumed.hooks)["best"].best == 0.2
    best = load_checkpoint(resumed.work_dir / "best.pt")
    assert best["best_fitness"] == 0.2 and best["epoch"] == 2


def test_best_hook_writes_only_its_own_files(tmp_path: Path) -> None:
    runner = fake_runner(tmp_path, max_epochs=4)
    hook = BestCheckpointHook(stop_aug_epochs=2)
    feed(hook, runner, {0: 0.1, 1: 0.2, 2: 0.3, 3: 0.4})
    assert {name for _, name, _ in runner.saved} == {"best.pt", "best_stop_aug.pt"}


def test_resumed_hook_catches_up_with_the_best_files(tmp_path: Path) -> None:
    save_checkpoint({"best_fitness": 0.4}, tmp_path / "best.pt")
    save_checkpoint({"best_fitness": 0.35}, tmp_path / "best_stop_aug.pt")
    runner = fake_runner(tmp_path, max_epochs=10)
    hook = BestCheckpointHook(stop_aug_epochs=3)
    hook.load_state_dict({"best": 0.3, "best_stop_aug": 0.3})  # stale: from a last.pt
    feed(hook, runner, {8: 0.33})
    assert runner.saved == [] and hook.state_dict() == {"best": 0.4, "best_stop_aug": 0.35}
    feed(hook, runner, {9: 0.5})
    assert [name for _, name, _ in runner.saved] == ["best.pt", "best_stop_aug.pt"]


def test_fresh_run_ignores_best_files_left_in_its_folder(tmp_path: Path) -> None:
    save_checkpoint({"best_fitness": 0.9}, tmp_path / "best.pt")  # an older run's
    runner = fake_runner(tmp_path)
    hook = BestCheckpointHook()
    feed(hook, runner, {0: 0.1})
    assert [name for _, name, _ in runner.saved] == ["best.pt"]
