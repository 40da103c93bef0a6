"""LoggerHook: metrics.jsonl, TensorBoard, pictures, log lines, resume, with a fake runner."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from detreg.engine import Hook
from detreg.hooks.logger import LoggerHook, read_metrics
from detreg.hooks.logger_plots import curve_keys, draw_mosaic
from detreg.registry import HOOKS

N_STEPS = 3
LOSSES = [
    {"loss": 3.0, "iou": 1.0, "cls": 2.0, "skipped": 0},
    {"loss": 5.0, "iou": float("nan"), "cls": 4.0, "skipped": 1},
    {"loss": torch.tensor(7.0), "iou": 3.0, "cls": 4.0, "skipped": 0},
]


class TinyDet(nn.Module):
    """Predicts one fixed box per image (score 0.9, class 1) and one low-score box."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def predict(self, images: torch.Tensor) -> list[torch.Tensor]:
        assert images.dtype == torch.float32 and float(images.max()) <= 1.0
        box = torch.tensor([[4.0, 4.0, 40.0, 30.0, 0.9, 1.0], [1.0, 1.0, 5.0, 5.0, 0.1, 0.0]])
        return [box.clone() for _ in images]


class Loader(list):
    """A list of batches with a ``dataset`` carrying ``class_names``."""

    def __init__(self, batches: list[dict], names: list[str]) -> None:
        super().__init__(batches)
        self.dataset = SimpleNamespace(class_names=names)


def make_batch(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    targets = torch.tensor([[0, 0, 0.5, 0.5, 0.4, 0.3], [1, 1, 0.3, 0.6, 0.2, 0.2]])
    return {"img": torch.randint(0, 255, (2, 3, 48, 64), dtype=torch.uint8, generator=g), "targets": targets}


def fake_runner(work_dir: Path, logger_name: str = "test_logger_hook") -> SimpleNamespace:
    param = nn.Parameter(torch.zeros(1))
    names = ["cat", "dog"]
    batches = [make_batch(i) for i in range(N_STEPS)]
    return SimpleNamespace(
        work_dir=work_dir,
        is_main=True,
        epoch=0,
        max_epochs=2,
        iter=0,
        step_in_epoch=0,
        outputs={},
        batch=None,
        optimizer=torch.optim.SGD(
            [{"params": [param]}, {"params": [nn.Parameter(torch.zeros(1))], "lr": 0.5}], lr=0.1
        ),
        train_loader=Loader(batches, names),
        val_loader=Loader([make_batch(10)], names),
        metrics={},
        logger=logging.getLogger(logger_name),
        eval_model=TinyDet(),
        device=torch.device("cpu"),
    )


def run_epochs(hook: LoggerHook, runner: SimpleNamespace, epochs: range, eval_epochs: set[int]) -> None:
    """Fire the events the runner would, evaluating (like EvalHook at 70) on ``eval_epochs``."""
    for epoch in epochs:
        runner.epoch = epoch
        hook.before_epoch(runner)
        for i, batch in enumerate(runner.train_loader):
            runner.step_in_epoch, runner.batch = i, batch
            runner.outputs = dict(LOSSES[i])
            hook.after_step(runner)
            runner.iter += 1
        runner.batch = None
        if epoch in eval_epochs:  # the eval hook runs before the logger in after_epoch
            hook.before_val(runner)
            runner.metrics = {"mAP50_95": 0.25 + epoch, "mAP50": 0.5 + epoch, "epoch": epoch, "note": "x"}
            hook.after_val(runner)
        hook.after_epoch(runner)
        for group in runner.optimizer.param_groups:  # the scheduler moved on (lr hook at 20)
            group["lr"] *= 0.1


def scalar_tags(tb_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    out = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    out["__images__"] = acc.Tags()["images"]
    return out


def assert_image(path: Path) -> tuple[int, int]:
    img = cv2.imread(str(path))
    assert img is not None and img.ndim == 3 and img.size > 0, path
    return img.shape[:2]


def test_registered_subclass_priority() -> None:
    assert HOOKS.get("LoggerHook") is LoggerHook
    assert issubclass(LoggerHook, Hook) and LoggerHook.priority == 90


def test_two_epochs_files_tensorboard_and_log_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    runner = fake_runner(tmp_path)
    hook = HOOKS.build({"type": "LoggerHook", "progress": False, "interval": 2, "tb_interval": 2})
    caplog.set_level(logging.INFO, logger=runner.logger.name)
    hook.before_run(runner)
    hook.before_train(runner)
    run_epochs(hook, runner, range(2), eval_epochs={1})
    hook.after_train(runner)
    hook.after_run(runner)

    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["epoch"] == 1 and second["epoch"] == 2
    assert first["iter"] == 3 and second["iter"] == 6
    assert first["loss"] == pytest.approx(5.0)  # (3 + 5 + 7) / 3, tensor included
    assert first["iou"] == pytest.approx(2.0)  # NaN ignored: (1 + 3) / 2
    assert first["cls"] == pytest.approx(10 / 3)
    assert first["skipped"] == 1  # a count, summed, not averaged
    assert first["lr"] == pytest.approx([0.1, 0.5])  # lr used in the epoch, not the next one
    assert second["lr"] == pytest.approx([0.01, 0.05])
    assert first["time"] >= 0
    assert "mAP50_95" not in first and "mAP50" not in first  # epoch 1 did not evaluate
    assert second["mAP50_95"] == pytest.approx(1.25) and second["mAP50"] == pytest.approx(1.5)
    assert second["val/epoch"] == 1  # a metric that clashes with a record key is prefixed
    assert "note" not in second and "val_time" in second
    assert list(second).index("loss") < list(second).index("lr") < list(second).index("mAP50_95")

    tags = scalar_tags(tmp_path / "tb")
    for tag in ("train/loss", "train/iou", "train/cls", "lr/pg0", "lr/pg1", "val/mAP50_95", "val/mAP50"):
        assert tag in tags, (tag, sorted(tags))
    assert "train/skipped" not in tags
    assert tags["train/loss"] == [(3, pytest.approx(5.0)), (6, pytest.approx(5.0))]  # step = iterations done
    assert tags["val/mAP50_95"] == [(6, pytest.approx(1.25))]
    assert [s for s, _ in tags["train_step/loss"]] == [2, 4, 6]
    assert {"train/batch", "val/predictions"} <= set(tags["__images__"])

    h, w = assert_image(tmp_path / "train_batch.jpg")
    assert w == 2 * h * 64 // 48 or w > h  # two tiles side by side
    assert_image(tmp_path / "val_predictions.jpg")
    assert_image(tmp_path / "results.png")

    text = caplog.text
    plain = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Epoch: [")]
    # interval 2 over 3 steps: steps 2 and 3 (the last) per epoch
    assert [m.split("]")[1].strip(" [") for m in plain] == ["2/3", "3/3", "2/3", "3/3"]
    for key in ("lr:", "loss:", "iou:", "eta:", "ips:", "images/s", "batch_cost:"):
        assert key in plain[0]
    assert "skipped: 1" in plain[1]
    assert "Epoch 2/2 done" in text and "mAP50_95 1.2500" in text
    assert "Training done: 2 epochs" in text and "best 1.2500 (epoch 2)" in text
    assert "results.png" in text


def test_resume_appends_and_history_rewinds(tmp_path: Path) -> None:
    runner = fake_runner(tmp_path)
    hook = LoggerHook(progress=False, tb_interval=0, plot_batch=False, val_images=0)
    runner.max_epochs = 3
    run_epochs(hook, runner, range(2), eval_epochs={0, 1})
    hook.after_run(runner)  # crashed before after_train: plots anyway, closes the writer
    assert (tmp_path / "results.png").is_file()

    # resume from the epoch-1 checkpoint (iter 3): epoch 2 is done again, then epoch 3
    resumed = fake_runner(tmp_path)
    resumed.max_epochs, resumed.iter = 3, 3
    hook2 = LoggerHook(progress=False, tb_interval=0, plot_batch=False, val_images=0, plots=False)
    run_epochs(hook2, resumed, range(1, 3), eval_epochs={2})
    hook2.after_train(resumed)
    hook2.after_run(resumed)

    raw = [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert raw == [1, 2, 2, 3]  # appended, never truncated
    history = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert "mAP50_95" not in history[1]  # the re-run epoch 2 replaced the first one
    assert history[2]["mAP50_95"] == pytest.approx(2.25)
    tags = scalar_tags(tmp_path / "tb")
    # the first run's epoch-2 scalars (step 6) were purged by the resumed writer (purge_step 4)
    assert tags["train/loss"] == [(3, pytest.approx(5.0)), (6, pytest.approx(5.0)), (9, pytest.approx(5.0))]
    assert [s for s, _ in tags["val/mAP50_95"]] == [3, 9]


def test_progress_bar_and_failures_do_not_stop_training(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runner = fake_runner(tmp_path)
    runner.eval_model = nn.Linear(1, 1)  # no predict: the val pictures fail, training goes on
    hook = LoggerHook(progress=True, tensorboard=False, plot_batch=False, plots=False)
    run_epochs(hook, runner, range(2), eval_epochs={1})
    hook.after_train(runner)
    hook.after_run(runner)
    assert "val_predictions disabled" in caplog.text
    assert len(read_metrics(tmp_path / "metrics.jsonl")) == 2
    assert not (tmp_path / "tb").exists()
    assert hook._bar is None


def test_other_ranks_do_nothing(tmp_path: Path) -> None:
    runner = fake_runner(tmp_path)
    runner.is_main = False
    hook = LoggerHook(progress=False)
    run_epochs(hook, runner, range(2), eval_epochs={1})
    hook.after_train(runner)
    hook.after_run(runner)
    assert list(tmp_path.iterdir()) == []


def test_drawing_helpers() -> None:
    images = make_batch(0)["img"]
    preds = TinyDet().predict(images.float() / 255)
    image = draw_mosaic(images, [p.numpy() for p in preds], ["cat", "dog"], min_tile=160)
    assert image.dtype.name == "uint8" and image.shape == (120, 320, 3)  # 48x64 tiles upscaled to 160 wide
    empty = draw_mosaic(images, [np.zeros((0, 6))] * 2)
    assert empty.shape == image.shape
    records = [{"epoch": 1, "loss": 1.0, "lr": [0.1], "time": 1.0, "mAP50": 0.2}]
    assert curve_keys(records) == (["loss"], ["mAP50"])


def test_with_the_real_runner(toy_config) -> None:
    """The hook in a real (toy) run: events, attributes and outputs fit together."""
    from detreg.engine.runner import Runner
    from detreg.launch import prepare_config

    hooks = """\
    val: {type: toy_components.ValidateEveryEpochHook}
    log: {type: LoggerHook, progress: false, interval: 1, tb_interval: 0, plots: false, tensorboard: false}
    """
    runner = Runner(prepare_config(toy_config(hooks), []))
    runner.train()
    records = read_metrics(runner.work_dir / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2]
    assert {"loss", "box", "cls", "lr", "time", "mAP50_95"} <= set(records[-1])
    assert (runner.work_dir / "train_batch.jpg").is_file() and (
        runner.work_dir / "val_predictions.jpg"
    ).is_file()
    assert "Epoch: [2/2] [3/3]" in (runner.work_dir / "train.log").read_text()
