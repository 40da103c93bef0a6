"""One validation pass: run a model's ``predict`` over a loader and evaluate."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_evaluation(
    model: torch.nn.Module,
    loader: Iterable[dict[str, Any]],
    evaluator: Any,
    device: str | torch.device,
    conf_thres: float = 0.001,
    iou_thres: float = 0.65,
    max_det: int = 300,
    half: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Predict every batch of ``loader`` and return ``evaluator.evaluate()`` plus timing.

    The evaluator must already be ``reset(dataset)``. The model (expected on ``device``)
    runs in eval mode under ``torch.inference_mode``; its previous train/eval mode is
    restored afterwards. Images go uint8 -> float in [0, 1] on ``device``. ``half`` runs
    under autocast (float16 on CUDA, bfloat16 on CPU) without changing the model's
    weights. Adds ``speed_ms_per_img`` (model time per image, pre/post-processing and
    NMS included, evaluation excluded) and ``eval_time_s`` to the results.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    bar = loader
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(loader, desc="eval", leave=False, dynamic_ncols=True, disable=None)
        except ImportError:  # tqdm is a dependency, but the bar is only cosmetic
            pass
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    model_s, n_img = 0.0, 0
    try:
        with torch.inference_mode():
            for batch in bar:
                t0 = time.perf_counter()
                img = batch["img"].to(device, non_blocking=True).float().div_(255)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=half):
                    preds = model.predict(img, conf_thres=conf_thres, iou_thres=iou_thres, max_det=max_det)
                preds = [p.float() for p in preds]
                _sync(device)
                model_s += time.perf_counter() - t0
                n_img += img.shape[0]
                evaluator.process(preds, batch)
    finally:
        if hasattr(bar, "close"):
            bar.close()
        model.train(was_training)
    t0 = time.perf_counter()
    results = dict(evaluator.evaluate())
    results["eval_time_s"] = time.perf_counter() - t0
    results["speed_ms_per_img"] = 1000.0 * model_s / max(n_img, 1)
    return results
