"""Resume of a real YOLOv6-N run equals the uninterrupted run, bit for bit.

The YOLOv6 recipe from ``configs/yolov6n.yaml`` (mosaic pipeline, SGD with nesterov,
cosine lr, warmup of lr/momentum/accumulation, EMA, stop-aug, last/best checkpoints,
evaluation) runs 4 epochs on a tiny synthetic set. The same run is then stopped after
epoch 2 (a hook raises in ``before_epoch``, as a crash would) and resumed from ``last.pt``
to epoch 4: model, EMA, optimizer and scheduler end exactly equal (atol 0). With 3 steps
per epoch and accumulation reaching 2 after warmup, the accumulation counter, warmup,
scheduler position, EMA update count and augmentation rng all have to be restored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from detreg.engine import Hook
from detreg.engine.checkpoint import load_checkpoint
from detreg.engine.runner import Runner
from detreg.launch import CONFIG_DIR, prepare_config


class CrashHook(Hook):
    """Raise in ``before_epoch`` of epoch ``at_epoch`` (0-based): a crash between epochs.

    Also records, at the first step of each epoch, which transforms the loader has off.
    """

    priority = 0
    seen: list[tuple[int, tuple[str, ...]]] = []

    def __init__(self, at_epoch: int | None = None) -> None:
        self.at_epoch = at_epoch

    def before_epoch(self, runner: Any) -> None:
        if runner.epoch == self.at_epoch:
            raise KeyboardInterrupt(f"simulated crash before epoch {runner.epoch}")

    def before_step(self, runner: Any) -> None:
        if runner.step_in_epoch == 0:
            CrashHook.seen.append((runner.epoch, runner.train_loader.dataset.disabled_transforms))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: fast and steady on a loaded 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def yolov6n_overrides(data: Path, work_dir: Path, stop_aug: int, crash: int | None) -> list[str]:
    """The YOLOv6-N recipe, shrunk to 4 epochs of 3 steps at 64 px."""
    return [
        f"data.source={data}",
        f"work_dir={work_dir}",
        "train.img_size=64",
        "train.batch_size=4",  # 12 images: 3 steps per epoch
        "train.epochs=4",
        "train.workers=0",
        "train.amp=false",
        "train.deterministic=true",
        "train.nominal_batch_size=8",
        # warmup over 5 steps: lr, momentum and accumulate (1 -> 2) interpolate into epoch 1
        "hooks.warmup.min_warmup_iters=5",
        "hooks.warmup.max_fraction=1.0",
        "train.warmup_epochs=0",
        "hooks.ema.tau=5",
        # explicit hook values are taken as they are (train.stop_aug_epochs would be scaled to 0)
        f"hooks.stop_aug.stop_aug_epochs={stop_aug}",
        f"hooks.best.stop_aug_epochs={stop_aug}",
        "hooks.eval.interval=2",
        "hooks.eval.heavy_eval_range=0",
        "hooks.eval.plots=never",
        "hooks.progress.bar=false",
        f"hooks.crash={{type: {__name__}.CrashHook, at_epoch: {'null' if crash is None else crash}}}",
    ]


def train(
    data: Path,
    work_dir: Path,
    stop_aug: int,
    crash: int | None = None,
    resume: Path | None = None,
    extra: list[str] = (),
) -> Runner:
    overrides = yolov6n_overrides(data, work_dir, stop_aug, crash) + list(extra)
    cfg = prepare_config(CONFIG_DIR / "yolov6n.yaml", overrides)
    runner = Runner(cfg, resume=resume)
    runner.train()
    return runner


def assert_same_state(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=f"{what}: {k}")


STOP_AUG = 2  # the window is epochs 2 and 3 (0-based) of 4


@pytest.fixture(scope="module")
def full(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """The uninterrupted 4-epoch run."""
    return train(tiny_data, tmp_path_factory.mktemp("full"), STOP_AUG)


# crash 2: last.pt was written before the epoch-1 evaluation (then rewritten by the best
# hook), the resume starts on the first epoch of the stop-aug window; crash 3: deep inside.
@pytest.mark.parametrize("crash", [2, 3], ids=["stop-after-eval-at-window-start", "stop-inside-window"])
def test_crash_and_resume_equals_uninterrupted_run(
    tiny_data: Path, tmp_path: Path, full: Runner, crash: int
) -> None:
    with pytest.raises(KeyboardInterrupt, match=f"simulated crash before epoch {crash}"):
        train(tiny_data, tmp_path / "part", STOP_AUG, crash=crash)
    last = tmp_path / "part" / "last.pt"
    ckpt = load_checkpoint(last)
    assert ckpt["epoch"] == crash and ckpt["iter"] == 3 * crash
    assert ckpt["optimizer"] is not None and ckpt["ema"]["updates"] > 0

    CrashHook.seen.clear()
    resumed = train(tiny_data, tmp_path / "part", STOP_AUG, resume=last)
    off = ("MixUp", "Mosaic")
    assert CrashHook.seen == [(e, off if e >= 4 - STOP_AUG else ()) for e in range(crash, 4)]

    assert resumed.iter == full.iter == 12
    assert resumed.train_step.last_opt_step == full.train_step.last_opt_step
    assert dict(resumed.hooks)["ema"].ema.updates == dict(full.hooks)["ema"].ema.updates
    assert_same_state(full.unwrapped_model.state_dict(), resumed.unwrapped_model.state_dict(), "model")
    assert_same_state(
        dict(full.hooks)["ema"].ema.module.state_dict(),
        dict(resumed.hooks)["ema"].ema.module.state_dict(),
        "ema",
    )
    opt_a, opt_b = full.optimizer.state_dict(), resumed.optimizer.state_dict()
    for sa, sb in zip(opt_a["state"].values(), opt_b["state"].values()):
        assert_same_state(sa, sb, "optimizer state")
    for ga, gb in zip(opt_a["param_groups"], opt_b["param_groups"]):
        assert {k: v for k, v in ga.items() if k != "params"} == {
            k: v for k, v in gb.items() if k != "params"
        }
    assert full.scheduler.state_dict() == resumed.scheduler.state_dict()
    # the stop-aug window was honoured by both runs
    assert set(full.train_loader.dataset.disabled_transforms) == {"Mosaic", "MixUp"}
    assert set(resumed.train_loader.dataset.disabled_transforms) == {"Mosaic", "MixUp"}
    # the best-checkpoint bookkeeping continued from the checkpoint's values
    assert dict(full.hooks)["best"].state_dict() == dict(resumed.hooks)["best"].state_dict()


def test_a_finished_run_stays_resumable_and_extends(tiny_data: Path, full: Runner) -> None:
    """After a normal end, ``last.pt`` is whole (``best.pt`` is the stripped one)."""
    last = load_checkpoint(full.work_dir / "last.pt")
    assert last["epoch"] == 4 and last["optimizer"] is not None and last["ema"] is not None
    assert last["rng"] is not None and last["train_step"]["last_opt_step"] == full.train_step.last_opt_step
    best = load_checkpoint(full.work_dir / "best.pt")
    assert best["stripped"] and best["optimizer"] is None and best["ema"] is None

    longer = train(
        tiny_data, full.work_dir, STOP_AUG, resume=full.work_dir / "last.pt", extra=["train.epochs=5"]
    )
    assert (
        longer.start_epoch == 4
        and longer.iter == 15
        and dict(longer.hooks)["ema"].ema.updates > dict(full.hooks)["ema"].ema.updates
    )
