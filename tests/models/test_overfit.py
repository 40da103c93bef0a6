"""YOLOv6-N learns: it overfits four synthetic images through the real runner.

The real ``configs/yolov6n.yaml`` model, loss (SIoU + VFL, TAL assigner) and training
recipe (SGD nesterov, warmup, cosine lr), only shrunk: 4 images at 96 px, Letterbox only
(no augmentation), one batch per epoch, 120 steps. The loss must fall steadily, and after
training ``model.eval(); model.predict(...)`` must put boxes of the right class on the
objects.
"""

from __future__ import annotations

import pytest
import torch

from detreg.data.synth import make_synth_dataset
from detreg.engine.runner import Runner
from detreg.launch import CONFIG_DIR, prepare_config
from detreg.ops.boxes import box_iou, xywh2xyxy

SIZE, IMAGES, STEPS = 96, 4, 120


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # steady on a loaded 2-core machine
    try:
        root = tmp_path_factory.mktemp("overfit")
        data = make_synth_dataset(root / "data", n_train=IMAGES, n_val=1, size=SIZE, seed=0)
        cfg = prepare_config(
            CONFIG_DIR / "yolov6n.yaml",
            [
                f"data.source={data}",
                f"work_dir={root / 'run'}",
                f"train.img_size={SIZE}",
                f"train.batch_size={IMAGES}",
                f"train.epochs={STEPS}",  # one step per epoch
                "train.workers=0",
                "train.amp=false",
                "train.deterministic=true",
                "data.train.transforms=[{type: Letterbox}]",
                "optimizer.scale_lr=false",
                f"train.nominal_batch_size={IMAGES}",
                "train.warmup_epochs=0",
                "hooks.warmup.min_warmup_iters=10",
                "hooks.warmup.max_fraction=1.0",
                "hooks.ema=null",
                "hooks.stop_aug=null",
                "hooks.eval=null",
                "hooks.best=null",
                "hooks.checkpoint=null",
                "hooks.logger=null",
            ],
        )
        runner = Runner(cfg)
        losses: list[float] = []
        step = runner.train_step.step

        def recording_step(r, batch):
            out = step(r, batch)
            losses.append(out["loss"])
            return out

        runner.train_step.step = recording_step
        runner.train()
        yield runner, losses
    finally:
        torch.set_num_threads(before)


def test_loss_falls_steadily(trained) -> None:
    runner, losses = trained
    assert len(losses) == STEPS and runner.iter == STEPS
    assert all(torch.isfinite(torch.tensor(losses)))
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.2 * first, (first, last)
    quarters = [sum(q) / len(q) for q in (losses[i : i + STEPS // 4] for i in range(0, STEPS, STEPS // 4))]
    assert all(b < a for a, b in zip(quarters, quarters[1:])), quarters


def matched(preds: list[torch.Tensor], batch: dict) -> tuple[int, int]:
    """(ground-truth boxes hit by a prediction of the same class with IoU > 0.5, total)."""
    hit = total = 0
    h, w = batch["img"].shape[2:]
    for i, pred in enumerate(preds):
        t = batch["targets"][batch["targets"][:, 0] == i]
        gt = xywh2xyxy(t[:, 2:] * torch.tensor([w, h, w, h]))
        total += len(gt)
        if len(pred) and len(gt):
            ok = (box_iou(gt, pred[:, :4]) > 0.5) & (t[:, 1:2] == pred[None, :, 5])
            hit += int(ok.any(1).sum())
    return hit, total


def test_predictions_land_on_the_objects(trained) -> None:
    runner, _ = trained
    model = runner.unwrapped_model.eval()
    batch = next(iter(runner.train_loader))
    with torch.no_grad():
        preds = model.predict(batch["img"].float() / 255, conf_thres=0.1)
    hit, total = matched(preds, batch)
    assert total >= 10 and hit >= 0.6 * total, (hit, total)


def test_with_settled_batchnorm_statistics_nearly_every_object_is_found(trained) -> None:
    """After 120 steps BN running statistics (momentum 0.03) still lag the weights a bit.

    Recomputed with the final weights (what a longer run converges to), the eval-mode
    model finds nearly every object with a confident box.
    """
    runner, _ = trained
    model = runner.unwrapped_model
    batch = next(iter(runner.train_loader))
    images = batch["img"].float() / 255
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone()) for m in bns]
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
        model.train()
        with torch.no_grad():
            model(images)
        model.eval()
        with torch.no_grad():
            preds = model.predict(images, conf_thres=0.25)
    finally:
        for m, (mom, mean, var) in zip(bns, saved):
            m.momentum = mom
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
    hit, total = matched(preds, batch)
    assert hit >= 0.85 * total, (hit, total)
