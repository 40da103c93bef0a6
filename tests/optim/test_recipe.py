"""The recipe scaled to the run: YOLOv6's values for long runs, fractions of short ones."""

from __future__ import annotations

from detreg.builtin_configs import find_config
from detreg.config import load_config, run_context
from detreg.optim.optimizers import resolve_hyper
from detreg.optim.recipe import lr_scale, nominal_batch_size, stop_aug_epochs, warmup_iters


def test_yolov6_values_for_a_300_epoch_coco_run() -> None:
    ipe = 118287 // 32  # COCO train2017 at batch 32
    assert warmup_iters(3, ipe, 1000, epochs=300) == 3 * ipe
    assert stop_aug_epochs(15, 300) == 15


def test_short_runs_get_fractions() -> None:
    assert warmup_iters(3, 50, 1000, epochs=30) == 150  # not 1000 of 1500 iterations
    assert warmup_iters(3, 19, 1000, epochs=15) == 28  # round(28.5)
    assert stop_aug_epochs(15, 30) == 3 and stop_aug_epochs(15, 15) == 2 and stop_aug_epochs(15, 3) == 0
    assert stop_aug_epochs(2, 100) == 2  # a smaller wish is kept
    assert warmup_iters(0, 50, 0, epochs=30) == 0


def test_run_context_offers_the_train_recipe_once_scaled(tmp_path) -> None:
    cfg = {"train": {"epochs": 30, "stop_aug_epochs": 15, "warmup_epochs": 2.0, "nominal_batch_size": 32}}
    ctx = run_context(cfg)
    assert (ctx["stop_aug_epochs"], ctx["warmup_epochs"], ctx["nominal_batch_size"]) == (3, 2.0, 32)
    assert "stop_aug_epochs" not in run_context({"train": {"epochs": 30}})


def test_builtin_yolov6_configs_pin_the_long_run_recipe() -> None:
    cfg = load_config(find_config("yolov6n"))
    train, hooks, opt = cfg.data["train"], cfg.data["hooks"], cfg.data["optimizer"]
    assert (
        train["epochs"],
        train["warmup_epochs"],
        train["stop_aug_epochs"],
        train["nominal_batch_size"],
    ) == (
        300,
        3.0,
        15,
        "auto",
    )
    assert hooks["warmup"]["min_warmup_iters"] == 1000
    assert (opt["lr"], opt["momentum"], opt["weight_decay"]) == (0.02, 0.937, 0.0005)
    assert hooks["ema"]["decay"] == 0.9999 and hooks["ema"]["tau"] == 2000
    ctx = run_context(cfg.data)
    assert ctx["stop_aug_epochs"] == 15


def test_auto_keeps_yolov6_accumulation_and_lr_scaling_in_long_runs() -> None:
    ipe = 118287 // 32  # COCO at batch 32 on one GPU: YOLOv6 accumulates 2, lr0 * 32/32
    assert nominal_batch_size("auto", 32, 300, ipe) == 64
    assert lr_scale("auto", 32, 32, 1, 300, ipe) == 1.0
    assert lr_scale("auto", 16, 32, 1, 300, ipe) == 0.5
    lr, wd = resolve_hyper(0.02, 5e-4, batch_size=16, epochs=300, iters_per_epoch=118287 // 16, world_size=1)
    assert (lr, wd) == (0.01, 5e-4)  # YOLOv6: 0.02 * 16/32; 5e-4 * 16 * 4 / 64
    assert nominal_batch_size("auto", 16, 200, 50) == 64  # 10,000 iterations is long


def test_auto_steps_every_batch_at_full_lr_in_short_runs() -> None:
    assert nominal_batch_size("auto", 16, 30, 50) == 16  # 1500 iterations: no accumulation
    assert lr_scale("auto", 16, 32, 1, 30, 50) == 1.0  # lr0 not scaled down ...
    assert lr_scale("auto", 128, 32, 1, 30, 50) == 4.0  # ... but still scaled up
    assert lr_scale("auto", 32, 32, 2, 30, 50) == 0.5  # 1/world_size offsets the loss * world_size
    lr, wd = resolve_hyper(0.02, 5e-4, batch_size=16, epochs=30, iters_per_epoch=50, world_size=1)
    assert (lr, wd) == (0.02, 5e-4)
    # explicit values are kept whatever the length
    assert nominal_batch_size(64, 16, 30, 50) == 64 and nominal_batch_size(None, 16, 30, 50) is None
    assert lr_scale(True, 16, 32, 1, 30, 50) == 0.5 and lr_scale(False, 16, 32, 1, 300, 10**5) == 1.0
    # unknown length (a component built outside a run): YOLOv6's values
    assert nominal_batch_size("auto", 16, None, None) == 64
