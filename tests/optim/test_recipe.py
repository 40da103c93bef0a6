"""The recipe scaled to the run: YOLOv6's values for long runs, fractions of short ones."""

from __future__ import annotations

from detreg.builtin_configs import find_config
from detreg.config import load_config, run_context
from detreg.optim.recipe import stop_aug_epochs, warmup_iters


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
        64,
    )
    assert hooks["warmup"]["min_warmup_iters"] == 1000
    assert (opt["lr"], opt["momentum"], opt["weight_decay"]) == (0.02, 0.937, 0.0005)
    assert hooks["ema"]["decay"] == 0.9999 and hooks["ema"]["tau"] == 2000
    ctx = run_context(cfg.data)
    assert ctx["stop_aug_epochs"] == 15
