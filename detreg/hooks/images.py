"""``ImagesHook``: pictures of what the model sees and predicts (training batch, validation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from detreg.engine.hook import Hook, RunnerContract
from detreg.hooks.guard import OutputGuard
from detreg.registry import HOOKS


def _class_names(loader: Any) -> list[str] | None:
    names = getattr(getattr(loader, "dataset", None), "class_names", None)
    return list(names) if names is not None else None


def target_boxes(targets: torch.Tensor, index: int, height: int, width: int) -> np.ndarray:
    """Image ``index``'s ground truth of a contract batch as ``[n, 5]`` (x1, y1, x2, y2, cls) pixels."""
    t = targets.detach().float().cpu().numpy().reshape(-1, 6)
    t = t[t[:, 0] == index]
    cx, cy, w, h = t[:, 2] * width, t[:, 3] * height, t[:, 4] * width, t[:, 5] * height
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, t[:, 1]], 1).astype(np.float32)


@HOOKS.register()
class ImagesHook(Hook):
    """``train_batch.jpg`` and ``val_predictions.jpg`` in the work dir (main process).

    - The first training batch of the session with its labels (``train_batch.jpg``).
    - After each validation: ``val_images`` validation images, each as a pair of tiles,
      ground truth on the left and the evaluated model's (``runner.eval_model``)
      predictions with score >= ``conf_thres`` on the right (``val_predictions.jpg``).

    Both pictures are also offered to the other writers through ``runner.storage``
    (``train/batch``, ``val/predictions``; TensorBoard shows them). A failure is one
    warning; training goes on without that picture.

    Args:
        train_batch: draw the first training batch.
        val_images: validation images to draw (0: none).
        conf_thres: lowest score of a drawn prediction.
    """

    priority = 85

    def __init__(self, train_batch: bool = True, val_images: int = 4, conf_thres: float = 0.3) -> None:
        self.train_batch = train_batch
        self.val_images = int(val_images)
        self.conf_thres = float(conf_thres)
        self._batch_drawn = False
        self._val_batch: dict[str, torch.Tensor] | None = None
        self._guard = OutputGuard("ImagesHook")

    def after_step(self, runner: RunnerContract) -> None:
        """Draw the session's first training batch."""
        if self._batch_drawn or not runner.is_main:
            return
        self._batch_drawn = True
        batch = runner.batch
        if not self.train_batch or not isinstance(batch, dict) or "img" not in batch:
            return

        def draw() -> None:
            from detreg.data.draw import draw_batch
            from detreg.hooks.plots import save_rgb

            image = draw_batch(batch, _class_names(runner.train_loader) or ())
            save_rgb(Path(runner.work_dir) / "train_batch.jpg", image)
            runner.storage.put_image("train/batch", image, runner.iter + 1)

        self._guard(runner, "train_batch", draw)

    def after_val(self, runner: RunnerContract) -> None:
        """Draw ground truth next to predictions for the first validation images."""
        if runner.is_main and self.val_images > 0 and runner.val_loader is not None:
            self._guard(runner, "val_predictions", lambda: self._draw_val(runner))

    def _draw_val(self, runner: RunnerContract) -> None:
        from detreg.hooks.plots import draw_mosaic, save_rgb

        if self._val_batch is None:
            batch = next(iter(runner.val_loader))
            n = self.val_images
            images = batch["img"][:n].detach().cpu().clone()
            targets = batch["targets"].detach().cpu()
            self._val_batch = {"img": images, "targets": targets[targets[:, 0] < len(images)].clone()}
        images, targets = self._val_batch["img"], self._val_batch["targets"]
        model = runner.eval_model
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                preds = model.predict(images.to(device).float() / 255.0)
        finally:
            model.train(was_training)
        h, w = images.shape[-2:]
        truth = [target_boxes(targets, i, h, w) for i in range(len(images))]
        shown = []
        for p in preds:
            p = p.detach().float().cpu().numpy().reshape(-1, 6)
            shown.append(p[p[:, 4] >= self.conf_thres])
        names = _class_names(runner.val_loader) or _class_names(runner.train_loader)
        n = len(images)
        left = draw_mosaic(images, truth, names, captions=["ground truth"] * n)
        right = draw_mosaic(images, shown, names, captions=["predictions"] * n)
        gap = np.full((left.shape[0], 4, 3), 255, np.uint8)
        image = np.concatenate([left, gap, right], 1)  # same grid: tile i next to tile i
        save_rgb(Path(runner.work_dir) / "val_predictions.jpg", image)
        runner.storage.put_image("val/predictions", image, runner.iter)
