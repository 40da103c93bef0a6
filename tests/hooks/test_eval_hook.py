"""EvalHook: YOLOv6's evaluation schedule, and the hook evaluating on exactly those epochs."""

from __future__ import annotations

import itertools
from pathlib import Path

from detreg.engine.runner import Runner
from detreg.hooks.eval import should_evaluate
from detreg.launch import prepare_config


def yolov6_gate(
    epoch: int, max_epoch: int, eval_interval: int, heavy_eval_range: int, final_only: bool
) -> bool:
    """YOLOv6 (HEAD) ``Trainer.eval_and_save``, as written in spec/yolov6-paddle.md §1 A.8."""
    remaining_epochs = max_epoch - 1 - epoch
    eval_interval = eval_interval if remaining_epochs >= heavy_eval_range else min(3, eval_interval)
    is_val_epoch = remaining_epochs == 0 or ((not final_only) and (epoch + 1) % eval_interval == 0)
    return is_val_epoch


def evaluated(max_epochs: int, interval: int, heavy: int, final_only: bool = False) -> list[int]:
    return [e for e in range(max_epochs) if should_evaluate(e, max_epochs, interval, heavy, final_only)]


def test_schedule_matches_yolov6() -> None:
    grid = itertools.product([1, 2, 7, 30, 64, 300], [1, 2, 3, 5, 20], [0, 1, 4, 10, 50], [False, True])
    for max_epochs, interval, heavy, final_only in grid:
        expected = [e for e in range(max_epochs) if yolov6_gate(e, max_epochs, interval, heavy, final_only)]
        got = evaluated(max_epochs, interval, heavy, final_only)
        assert got == expected, (max_epochs, interval, heavy, final_only)


def test_schedule_of_the_yolov6n_recipe() -> None:
    # 300 epochs, eval_interval 20, heavy_eval_range 50: every 20 epochs, then every 3 in
    # the last 50 (remaining < 50, i.e. from 0-based epoch 250), and always the last one.
    got = evaluated(300, 20, 50)
    assert got == [*range(19, 240, 20), *range(251, 300, 3)]
    assert got[-1] == 299
    assert evaluated(300, 20, 50, final_only=True) == [299]
    assert evaluated(10, 0, 0) == list(range(10))  # interval 0 is treated as 1, no crash


def test_hook_evaluates_on_the_scheduled_epochs(toy_config, tmp_path: Path) -> None:
    path = toy_config(
        "eval: {type: EvalHook, interval: 2, heavy_eval_range: 0, plots: never}\n"
        "best: {type: BestCheckpointHook}\n",
        epochs=5,
    )
    runner = Runner(prepare_config(path, ["hooks.logger=null"]))
    seen = []
    runner.validate = lambda evaluate, _orig=runner.validate: seen.append(runner.epoch) or _orig(evaluate)
    runner.train()
    assert seen == evaluated(5, 2, 0) == [1, 3, 4]
    assert {"mAP50_95", "mAP50"} <= set(runner.metrics)
    assert (runner.work_dir / "best.pt").is_file()


def test_map_is_measured_at_conf_0001_by_default() -> None:
    """A 0.03 floor (YOLOv6's training eval) cuts the PR curve's tail and under-reports mAP."""
    import inspect

    from detreg.evaluation.loop import run_evaluation
    from detreg.hooks.eval import EvalHook

    assert EvalHook().conf_thres == 0.001
    assert inspect.signature(run_evaluation).parameters["conf_thres"].default == 0.001
