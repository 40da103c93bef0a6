"""StopAugHook: level-triggered, so a run resumed inside the window trains without mosaic."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from detreg.engine import Hook
from detreg.engine.runner import Runner
from detreg.hooks.stop_aug import StopAugHook
from detreg.launch import prepare_config

OFF = ("MixUp", "Mosaic")


class FakeLoader:
    def __init__(self) -> None:
        self.disabled: set[str] = set()

    def disable_transforms(self, names) -> None:
        self.disabled.update(names)


def epochs_off(hook: StopAugHook, max_epochs: int, start: int = 0) -> list[int]:
    runner = SimpleNamespace(
        epoch=0, max_epochs=max_epochs, train_loader=FakeLoader(), logger=logging.getLogger("test")
    )
    off = []
    for epoch in range(start, max_epochs):
        runner.epoch = epoch
        hook.before_epoch(runner)
        if runner.train_loader.disabled:
            off.append(epoch)
    assert runner.train_loader.disabled in (set(), set(OFF))
    return off


def test_window_is_the_last_n_epochs() -> None:
    assert epochs_off(StopAugHook(stop_aug_epochs=3), 10) == [7, 8, 9]  # YOLOv6: epoch == E - n on
    assert epochs_off(StopAugHook(stop_aug_epochs=0), 10) == []
    assert epochs_off(StopAugHook(stop_aug_epochs=15), 10) == list(range(10))


def test_level_triggered_a_fresh_hook_started_inside_the_window_applies_at_once() -> None:
    assert epochs_off(StopAugHook(stop_aug_epochs=3), 10, start=8) == [8, 9]


class LoaderState(Hook):
    """Records ``(epoch, disabled transforms)`` when the first batch of each epoch arrives."""

    seen: list[tuple[int, tuple[str, ...]]] = []

    def before_step(self, runner: Any) -> None:
        if runner.step_in_epoch == 0:
            keys = list(runner.train_loader.sampler)  # what the loader stamps on this pass
            LoaderState.seen.append((runner.epoch, keys[0].disabled))


def test_resume_inside_the_window_disables_mosaic_from_its_first_epoch(toy_config) -> None:
    hooks = f"stop_aug: {{type: StopAugHook, stop_aug_epochs: 2}}\nstate: {{type: {__name__}.LoaderState}}\n"
    pipeline = (
        "data.train.transforms=[{type: Mosaic, prob: 1.0}, {type: MixUp, prob: 0.0}, {type: Letterbox}]"
    )
    path = toy_config(hooks, epochs=3)
    LoaderState.seen.clear()
    first = Runner(prepare_config(path, [pipeline, "hooks.logger=null"]))
    first.train()  # 3 epochs: window is epoch 1 and 2
    assert LoaderState.seen == [(0, ()), (1, OFF), (2, OFF)]

    LoaderState.seen.clear()
    resumed = Runner(
        prepare_config(
            path, [pipeline, "hooks.logger=null", "train.epochs=5", "hooks.stop_aug.stop_aug_epochs=3"]
        ),
        resume=Path(first.work_dir) / "last.pt",
    )
    resumed.train()  # resumes at epoch 3 of 5, inside the new window (epochs 2..4)
    assert LoaderState.seen == [(3, OFF), (4, OFF)]
    assert resumed.train_loader.dataset.disabled_transforms == OFF
