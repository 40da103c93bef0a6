"""The writer hooks (progress, metrics file, TensorBoard, images) reading one EpochStorage.

A fake runner fires the events the real one would, filling ``runner.storage`` the way the
runner does; the last test runs them in a real (toy) run.
"""

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
from detreg.engine.storage import EpochStorage
from detreg.hooks.images import ImagesHook
from detreg.hooks.metrics_file import MetricsFileHook, read_metrics
from detreg.hooks.plots import curve_keys, draw_mosaic, plot_results
from detreg.hooks.progress import ProgressHook, epoch_line
from detreg.hooks.tensorboard import TensorBoardHook
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


def fake_runner(work_dir: Path) -> SimpleNamespace:
    names = ["cat", "dog"]
    groups = [
        {"params": [nn.Parameter(torch.zeros(1))], "name": "weight"},
        {"params": [nn.Parameter(torch.zeros(1))], "lr": 0.5, "name": "norm"},
    ]
    return SimpleNamespace(
        work_dir=work_dir,
        is_main=True,
        epoch=0,
        max_epochs=2,
        iter=0,
        step_in_epoch=0,
        outputs={},
        batch=None,
        optimizer=torch.optim.SGD(groups, lr=0.1),
        train_loader=Loader([make_batch(i) for i in range(N_STEPS)], names),
        val_loader=Loader([make_batch(10)], names),
        metrics={},
        logger=logging.getLogger("test_writers"),
        eval_model=TinyDet(),
        unwrapped_model=TinyDet(),
        device=torch.device("cpu"),
        storage=EpochStorage(0),
        context={},
        cfg={"train": {}},
    )


def writers(**kw: dict) -> list[Hook]:
    """The default writers in their priority order."""
    hooks = [
        ImagesHook(**kw.get("images", {})),
        MetricsFileHook(**kw.get("metrics", {})),
        TensorBoardHook(**kw.get("tensorboard", {"interval": 2})),
        ProgressHook(**kw.get("progress", {"bar": False, "interval": 2, "summary": False})),
    ]
    assert [h.priority for h in hooks] == sorted(h.priority for h in hooks)
    return hooks


def fire(hooks: list[Hook], event: str, runner: SimpleNamespace) -> None:
    for h in hooks:
        getattr(h, event)(runner)


def run_epochs(hooks: list[Hook], runner: SimpleNamespace, epochs: range, eval_epochs: set[int]) -> None:
    """Fire the events (and fill the storage) as the runner does; evaluate like EvalHook at 70."""
    for epoch in epochs:
        runner.epoch = epoch
        runner.storage = EpochStorage(epoch, runner.iter, N_STEPS)
        fire(hooks, "before_epoch", runner)
        for i, batch in enumerate(runner.train_loader):
            runner.step_in_epoch, runner.batch = i, batch
            runner.storage.begin_step()
            runner.storage.put_scalars(LOSSES[i])
            runner.outputs = runner.storage.latest
            groups = runner.optimizer.param_groups
            runner.storage.end_step(runner.iter, [g["lr"] for g in groups], [g["name"] for g in groups], 2)
            fire(hooks, "after_step", runner)
            runner.iter += 1
        runner.batch = None
        if epoch in eval_epochs:
            fire(hooks, "before_val", runner)
            runner.metrics = {"mAP50_95": 0.25 + epoch, "mAP50": 0.5 + epoch, "epoch": epoch, "note": "x"}
            runner.storage.put_val(runner.metrics, 0.5)
            fire(hooks, "after_val", runner)
        fire(hooks, "after_epoch", runner)
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


def test_registered_with_priorities() -> None:
    for name, cls, priority in (
        ("ImagesHook", ImagesHook, 85),
        ("MetricsFileHook", MetricsFileHook, 90),
        ("TensorBoardHook", TensorBoardHook, 91),
        ("ProgressHook", ProgressHook, 95),
    ):
        assert HOOKS.get(name) is cls and issubclass(cls, Hook) and cls.priority == priority


def test_storage_means_window_and_record() -> None:
    storage = EpochStorage(4, iteration=30)
    for i, losses in enumerate(LOSSES):
        storage.begin_step()
        storage.put_scalars({**losses, "name": "not a number"})
        storage.end_step(30 + i, [0.1], ["weight"], 2)
    assert storage.means() == pytest.approx({"loss": 5.0, "iou": 2.0, "cls": 10 / 3})  # NaN skipped
    assert storage.skipped == 1 and storage.steps_done == 3 and storage.iter == 33
    assert storage.window_means(2) == pytest.approx({"loss": 6.0, "iou": 3.0, "cls": 4.0})
    with pytest.raises(TypeError, match="'bad' must be a number"):
        storage.put_scalar("bad", "x")
    storage.put_val({"mAP50": 0.5, "loss": 9.0, "per_class": [1, 2]}, 1.25)
    rec = storage.record()
    assert rec is storage.record()  # built once
    assert rec["epoch"] == 5 and rec["iter"] == 33 and rec["skipped"] == 1 and rec["lr"] == [0.1]
    assert rec["lr_groups"] == ["weight"] and rec["val_time"] == 1.25
    assert rec["mAP50"] == 0.5 and rec["val/loss"] == 9.0 and "per_class" not in rec


def test_two_epochs_files_tensorboard_and_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    runner = fake_runner(tmp_path)
    hooks = writers()
    caplog.set_level(logging.INFO, logger=runner.logger.name)
    fire(hooks, "before_run", runner)
    fire(hooks, "before_train", runner)
    run_epochs(hooks, runner, range(2), eval_epochs={1})
    fire(hooks, "after_train", runner)
    fire(hooks, "after_run", runner)

    first, second = (json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines())
    assert first["epoch"] == 1 and second["epoch"] == 2 and first["iter"] == 3 and second["iter"] == 6
    assert first["loss"] == pytest.approx(5.0) and first["iou"] == pytest.approx(2.0)
    assert first["skipped"] == 1  # a count, summed, not averaged
    assert first["lr"] == pytest.approx([0.1, 0.5]) and second["lr"] == pytest.approx([0.01, 0.05])
    assert first["lr_groups"] == ["weight", "norm"]
    assert "mAP50_95" not in first and second["mAP50_95"] == pytest.approx(1.25)
    assert second["val/epoch"] == 1 and "note" not in second and second["val_time"] == 0.5
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
    assert w > h  # two tiles side by side
    vh, vw = assert_image(tmp_path / "val_predictions.jpg")
    assert vw > vh  # ground truth | predictions, one row per image
    assert_image(tmp_path / "results.png")

    messages = [r.getMessage() for r in caplog.records]
    steps = [m for m in messages if m.startswith("Epoch") and "[" in m]
    assert [m.split("[")[1].split("]")[0] for m in steps] == ["2/3", "3/3", "2/3", "3/3"]
    assert all(k in steps[0] for k in ("loss", "iou", "lr", "img/s", "eta"))
    assert "skipped 1" in steps[1]
    epochs = [m for m in messages if m.startswith("Epoch") and "[" not in m]
    assert epochs[0].startswith("Epoch 1/2  loss 5.0000 (iou 2.0000, cls 3.3333)  skipped 1  lr 0.1")
    assert "mAP50-95 1.2500 mAP50 1.5000" in epochs[1] and "mAP" not in epochs[0]
    final = messages[-1]
    assert final.startswith("Training done: 2 epochs") and "best 1.2500 (epoch 2)" in final
    assert "results.png" in final


def test_resume_appends_and_history_rewinds(tmp_path: Path) -> None:
    runner = fake_runner(tmp_path)
    runner.max_epochs = 3
    off = {"images": {"train_batch": False, "val_images": 0}, "tensorboard": {"interval": 0}}
    hooks = writers(**off)
    run_epochs(hooks, runner, range(2), eval_epochs={0, 1})
    fire(hooks, "after_run", runner)  # crashed before after_train: plots anyway, closes the writer
    assert (tmp_path / "results.png").is_file()

    resumed = fake_runner(tmp_path)  # from the epoch-1 checkpoint (iter 3): epoch 2 again, then 3
    resumed.max_epochs, resumed.iter = 3, 3
    hooks2 = writers(**off, metrics={"plots": False})
    run_epochs(hooks2, resumed, range(1, 3), eval_epochs={2})
    fire(hooks2, "after_train", resumed)
    fire(hooks2, "after_run", resumed)

    raw = [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert raw == [1, 2, 2, 3]  # appended, never truncated
    history = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["epoch"] for r in history] == [1, 2, 3] and "mAP50_95" not in history[1]
    tags = scalar_tags(tmp_path / "tb")
    # the first run's epoch-2 scalars (step 6) were purged by the resumed writer (purge_step 4)
    assert tags["train/loss"] == [(3, pytest.approx(5.0)), (6, pytest.approx(5.0)), (9, pytest.approx(5.0))]
    assert [s for s, _ in tags["val/mAP50_95"]] == [3, 9]


def test_bar_and_failures_do_not_stop_training(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    runner = fake_runner(tmp_path)
    runner.eval_model = nn.Linear(1, 1)  # no predict: the val pictures fail, training goes on
    hooks = [
        ImagesHook(train_batch=False),
        MetricsFileHook(plots=False),
        ProgressHook(bar=True, summary=False),
    ]
    run_epochs(hooks, runner, range(2), eval_epochs={1})
    fire(hooks, "after_train", runner)
    fire(hooks, "after_run", runner)
    assert "val_predictions disabled" in caplog.text
    assert len(read_metrics(tmp_path / "metrics.jsonl")) == 2
    assert not (tmp_path / "tb").exists() and hooks[2]._bar is None


def test_no_bar_fragments_when_stdout_is_not_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    runner = fake_runner(tmp_path)
    hook = ProgressHook(summary=False)  # bar=None: decided by stdout (captured: not a terminal)
    run_epochs([hook], runner, range(1), eval_epochs=set())
    captured = capsys.readouterr()
    assert "\r" not in captured.out and "\r" not in captured.err and "it/s" not in captured.out + captured.err


def test_other_ranks_do_nothing(tmp_path: Path) -> None:
    runner = fake_runner(tmp_path)
    runner.is_main = False
    hooks = writers()
    run_epochs(hooks, runner, range(2), eval_epochs={1})
    fire(hooks, "after_train", runner)
    fire(hooks, "after_run", runner)
    assert list(tmp_path.iterdir()) == []


def test_drawing_and_results_plot(tmp_path: Path) -> None:
    images = make_batch(0)["img"]
    preds = TinyDet().predict(images.float() / 255)
    image = draw_mosaic(images, [p.numpy() for p in preds], ["cat", "dog"], min_tile=160)
    assert image.dtype.name == "uint8" and image.shape == (120, 320, 3)  # 48x64 tiles upscaled to 160 wide
    assert draw_mosaic(images, [np.zeros((0, 6))] * 2).shape == image.shape
    records = [
        {
            "epoch": e,
            "loss": 1.0 / e,
            "dfl": 0.0,
            "lr": [0.1, 0.2],
            "lr_groups": ["weight", "norm"],
            "mAP50": 0.0,
            "num_images": 4.0,
            "speed_ms_per_img": 3.0,
        }
        for e in (1, 2)
    ]
    assert curve_keys(records) == (["loss", "dfl"], ["mAP50", "num_images", "speed_ms_per_img"])
    from matplotlib.figure import Figure

    panels: list[str] = []
    legends: list[list[str]] = []
    real_savefig = Figure.savefig

    def spy(fig: Figure, path: str) -> None:
        for ax in fig.axes:
            panels.append(ax.get_title())
            if ax.get_legend() is not None:
                legends.append([t.get_text() for t in ax.get_legend().get_texts()])
        real_savefig(fig, path)

    pytest.MonkeyPatch().setattr(Figure, "savefig", spy)
    plot_results(records, tmp_path / "results.png")
    assert panels == ["loss", "lr", "mAP50"]  # no always-0 loss (dfl), no eval bookkeeping; 0 mAP kept
    assert legends == [["lr (weights)", "lr (BN)"]]


def test_epoch_line_reads_like_a_sentence() -> None:
    record = {"epoch": 3, "iter": 9, "loss": 2.0, "iou": 0.5, "kd": 0.25, "lr": [0.01], "time": 65.0}
    assert epoch_line(record, 10) == "Epoch 3/10  loss 2.0000 (iou 0.5000, kd 0.2500)  lr 0.01  0:01:05"
    record.update(mAP50_95=0.3, mAP50=0.5, val_time=2.0, AP_small=0.1)
    assert "mAP50-95 0.3000 mAP50 0.5000" in epoch_line(record, 10)
    assert "AP_small" not in epoch_line(record, 10)


def test_with_the_real_runner(toy_config, capsys: pytest.CaptureFixture) -> None:
    """The default writers in a real (toy) run: start summary and lines on stdout, files written."""
    from detreg.engine.runner import Runner
    from detreg.launch import prepare_config

    hooks = """\
    val: {type: toy_components.ValidateEveryEpochHook}
    progress: {type: ProgressHook, interval: 1}
    tensorboard: null
    """
    runner = Runner(prepare_config(toy_config(hooks), []))
    runner.train()
    out = capsys.readouterr().out
    records = read_metrics(runner.work_dir / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2]
    assert {"loss", "box", "cls", "lr", "lr_groups", "time", "mAP50_95"} <= set(records[-1])
    assert (runner.work_dir / "train_batch.jpg").is_file() and (
        runner.work_dir / "val_predictions.jpg"
    ).is_file()
    for text in (
        "Work dir:",
        "Model: ToyDetector",
        "Data: train 12 images, val 4 images",
        "2 epochs x 3 iterations",
    ):
        assert text in out, text
    assert "Epoch 2/2 [3/3]" in out and "Epoch 2/2  loss" in out and "Training done" in out
    assert "Epoch 2/2 [3/3]" in (runner.work_dir / "train.log").read_text()


def test_logger_null_switches_every_writer_off(tmp_path: Path) -> None:
    from detreg.config import load_config
    from detreg.errors import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text("model: {type: torch.nn.Identity}\noptimizer: {type: SGD}\nhooks: {logger: null}\n")
    hooks = load_config(path).data["hooks"]
    assert all(hooks[n] is None for n in ("progress", "metrics", "tensorboard", "images"))
    assert hooks["checkpoint"] is not None
    with pytest.raises(ConfigError, match="LoggerHook was split into hooks.progress"):
        load_config(path, ["hooks.logger={type: LoggerHook}"])
