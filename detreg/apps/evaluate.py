"""``detreg-eval`` / ``detreg eval``: evaluate a checkpoint, same code path as ``EvalHook``.

Writes to a new ``runs/eval/expN`` (or ``--work-dir``): ``metrics.json``, the evaluator's
plots and ``predictions.json`` (a COCO results list: ``image_id``, ``category_id``,
``bbox`` [x, y, w, h] in original pixels, ``score``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from detreg.apps import load_detector
from detreg.apps.common import add_common, add_config_args, add_trust_arg, config_for_weights
from detreg.config import Config, run_context
from detreg.errors import DetregError
from detreg.registry import DATASETS, EVALUATORS

DESCRIPTION = "evaluate a checkpoint (COCO mAP)"


def _eval_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """Evaluator config and thresholds from the config's evaluation hook, if it has one."""
    for hcfg in (cfg.get("hooks") or {}).values():
        if isinstance(hcfg, dict) and ("evaluator" in hcfg or hcfg.get("type") == "EvalHook"):
            return {
                k: hcfg[k]
                for k in ("evaluator", "conf_thres", "iou_thres", "max_det")
                if hcfg.get(k) is not None
            }
    return {}


def evaluate_checkpoint(
    cfg: Config,
    weights: str | Path,
    out_dir: str | Path,
    conf_thres: float | None = None,
    iou_thres: float | None = None,
    batch_size: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Evaluate ``weights`` (EMA weights preferred) on the config's ``data.val``.

    Writes the per-class table to the log; plots, ``metrics.json`` and ``predictions.json``
    (when the evaluator offers ``coco_predictions()``) to ``out_dir``.
    """
    import json

    from detreg.engine.runner import pick_device
    from detreg.evaluation.table import format_table

    check_val_data(cfg)
    dev = pick_device(device or cfg.data["train"].get("device", "auto"), -1)
    model, names, _ = load_detector(cfg, weights, dev, fuse=False)
    metrics, evaluator = evaluate_model(cfg, model, names, dev, conf_thres, iou_thres, batch_size)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    evaluator.save_plots(out_dir)
    plain = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, dict))}
    (out_dir / "metrics.json").write_text(json.dumps(plain, indent=2, default=float))
    if hasattr(evaluator, "coco_predictions"):
        (out_dir / "predictions.json").write_text(json.dumps(evaluator.coco_predictions()))
    print(format_table(metrics))
    print(f"mAP50-95 {metrics.get('mAP50_95', 0.0):.4f}  mAP50 {metrics.get('mAP50', 0.0):.4f}  ({out_dir})")
    return metrics


def check_val_data(cfg: Config) -> None:
    """One clear error when the config has no validation set."""
    if (cfg.data.get("data") or {}).get("val") is None:
        raise DetregError(
            "data.val: missing; evaluation needs a validation set (or pass --data my_data.yaml)"
        )


def evaluate_model(
    cfg: Config,
    model: Any,
    names: list[str],
    device: Any,
    conf_thres: float | None = None,
    iou_thres: float | None = None,
    batch_size: int | None = None,
) -> tuple[dict[str, Any], Any]:
    """Evaluate a loaded ``model`` on the config's ``data.val``; ``(metrics, evaluator)``."""
    from detreg.data.loader import build_dataloader
    from detreg.evaluation.loop import run_evaluation

    check_val_data(cfg)
    data = cfg.data["data"]
    ctx = {**run_context(cfg.data), "num_classes": len(names), "class_names": names}
    val_set = DATASETS.build(data["val"], "data.val", ctx)
    bs = batch_size or int(data.get("val_batch_size") or 2 * int(cfg.data["train"]["batch_size"]))
    loader = build_dataloader(
        val_set, batch_size=bs, workers=int(cfg.data["train"]["workers"]), shuffle=False
    )
    settings = _eval_settings(cfg.data)
    evaluator = EVALUATORS.build(settings.get("evaluator") or {"type": "COCOEvaluator"}, "evaluator", ctx)
    evaluator.reset(val_set)
    metrics = run_evaluation(
        model,
        loader,
        evaluator,
        device,
        conf_thres=conf_thres if conf_thres is not None else settings.get("conf_thres", 0.001),
        iou_thres=iou_thres if iou_thres is not None else settings.get("iou_thres", 0.65),
        max_det=settings.get("max_det", 300),
    )
    return metrics, evaluator


# ---------------------------------------------------------------------- command
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Config (optional: the checkpoint's), overrides, ``--data``, ``--weights`` and thresholds."""
    add_config_args(p)
    p.add_argument("--weights", required=True, help="checkpoint to evaluate (EMA weights preferred)")
    p.add_argument(
        "--conf", type=float, default=None, help="score threshold (default: the EvalHook's, 0.001)"
    )
    p.add_argument("--iou", type=float, default=None, help="NMS IoU (default: the EvalHook's, 0.65)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument(
        "--work-dir", help="where plots, metrics.json, predictions.json go (default: runs/eval/expN)"
    )
    add_trust_arg(p)
    add_common(p)


def run(args: argparse.Namespace) -> int:
    """Evaluate ``args.weights`` on the config's validation set."""
    from detreg.engine.runner import next_run_dir

    cfg = config_for_weights(args)
    out = Path(args.work_dir) if args.work_dir else next_run_dir("runs/eval")
    evaluate_checkpoint(cfg, args.weights, out, args.conf, args.iou, args.batch_size, args.device)
    return 0
