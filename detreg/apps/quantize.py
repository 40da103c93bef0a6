"""``detreg quantize``: post-training int8 quantization of a checkpoint (PT2E, torchao).

Reparameterizes (RepVGG/QARepVGG branches fused, Conv+BN folded), exports the network with
a dynamic batch, inserts observers, calibrates on ``--calib-batches`` batches of training
images (validation preprocessing), converts to int8, evaluates the float and the int8
model on ``data.val`` in one table and writes the int8 file (``<weights>_int8.pt`` by
default; see :mod:`detreg.quant.artifact`; it loads wherever ``--weights`` is taken:
``detreg-eval``, ``detreg-infer``, ``detreg-export --int8``).

``--sensitivity`` quantizes one block at a time instead and ranks the blocks by mAP drop
(:mod:`detreg.quant.sensitivity`); ``--skip PATTERN`` keeps matching layers in float.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

from detreg.apps import check_weights, img_size_hw, load_detector
from detreg.apps.common import add_common, add_config_args, add_trust_arg, config_for_weights
from detreg.errors import DetregError

DESCRIPTION = "int8 post-training quantization of a checkpoint (calibrate, convert, compare mAP)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Config (optional: the checkpoint's), overrides, ``--data``, ``--weights`` and PTQ options."""
    add_config_args(p)
    p.add_argument("--weights", required=True, help="float checkpoint to quantize (EMA weights preferred)")
    p.add_argument("--calib-batches", type=int, default=8, help="training batches to calibrate on (8)")
    p.add_argument("--batch-size", type=int, default=None, help="calibration/eval batch (train.batch_size)")
    p.add_argument("--img-size", type=int, nargs="+", default=None, help="H [W] to trace at (train.img_size)")
    p.add_argument(
        "--skip",
        nargs="+",
        default=[],
        metavar="PATTERN",
        help="keep these layers in float (fnmatch on module names, e.g. 'head.cls_preds.*' or 'head.*')",
    )
    p.add_argument("--sensitivity", action="store_true", help="rank blocks by the mAP drop of each")
    p.add_argument(
        "--blocks", nargs="+", default=[], metavar="PATTERN", help="with --sensitivity: only these blocks"
    )
    p.add_argument("--no-eval", action="store_true", help="write the int8 file without evaluating")
    p.add_argument("--out", help="int8 file to write (default: <weights stem>_int8.pt next to the weights)")
    p.add_argument("--work-dir", help="where quantize.json / sensitivity.json go (default: next to --out)")
    add_trust_arg(p)
    add_common(p)


def _float_checkpoint(weights: Path) -> None:
    from detreg.engine.checkpoint import load_checkpoint
    from detreg.quant.artifact import is_quantized

    if is_quantized(load_checkpoint(weights)):
        raise DetregError(
            f"{weights}: already quantized (an int8 file from detreg quantize or QAT); "
            "quantize the float checkpoint it was made from"
        )


def _row(name: str, metrics: dict[str, Any]) -> str:
    return (
        f"{name:<18}{metrics.get('mAP50_95', 0.0):>10.4f}{metrics.get('mAP50', 0.0):>10.4f}"
        f"{metrics.get('speed_ms_per_img', 0.0):>12.2f}"
    )


def comparison_table(results: dict[str, dict[str, Any]]) -> str:
    """``model  mAP50-95  mAP50  ms/img`` rows, then the int8 change in mAP50-95."""
    lines = [f"{'model':<18}{'mAP50-95':>10}{'mAP50':>10}{'ms/img':>12}"]
    lines += [_row(name, m) for name, m in results.items()]
    if "float" in results and "int8" in results:
        drop = results["int8"].get("mAP50_95", 0.0) - results["float"].get("mAP50_95", 0.0)
        lines.append(f"int8 - float mAP50-95: {drop:+.4f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Quantize ``args.weights``; write the int8 file and the float/int8 table."""
    from detreg.apps.evaluate import evaluate_model
    from detreg.engine.checkpoint import save_checkpoint
    from detreg.quant.artifact import int8_checkpoint, quantizable
    from detreg.quant.backend import require_torchao
    from detreg.quant.calibrate import calibrate, calibration_loader

    weights = check_weights(args.weights)
    require_torchao()
    _float_checkpoint(weights)
    cfg = config_for_weights(args)
    train = cfg.data["train"]
    size = img_size_hw(args.img_size, int(train["img_size"]))
    bs = args.batch_size or int(train["batch_size"])
    out = Path(args.out) if args.out else weights.with_name(f"{weights.stem}_int8.pt")
    work = Path(args.work_dir) if args.work_dir else out.parent
    work.mkdir(parents=True, exist_ok=True)
    model, names, _ = load_detector(cfg, weights, "cpu", fuse=False)
    loader = calibration_loader(cfg, names, bs, int(train["workers"]))
    if args.sensitivity:
        from detreg.quant.sensitivity import sensitivity, sensitivity_table

        rows = sensitivity(cfg, model, names, size, loader, args.calib_batches, args.skip, bs, args.blocks)
        print(sensitivity_table(rows))
        path = work / "sensitivity.json"
        path.write_text(json.dumps(rows, indent=2))
        print(f"sensitivity table: {path}")
        return 0
    reference = copy.deepcopy(model).fuse()
    qmodel, skipped = quantizable(model, size, args.skip)
    seen = calibrate(qmodel, loader, args.calib_batches)
    int8, ckpt = int8_checkpoint(qmodel, "ptq", skipped, size, cfg.data, names)
    save_checkpoint(ckpt, out)
    print(f"calibrated on {seen} training images; float layers: {', '.join(skipped) or 'none'}")
    print(f"int8 model: {out}")
    if args.no_eval:
        return 0
    results = {}
    for name, m in (("float", reference), ("int8", int8)):
        results[name] = evaluate_model(cfg, m, names, "cpu", batch_size=bs)[0]
    print(comparison_table(results))
    plain = {k: {m: v for m, v in r.items() if isinstance(v, (int, float))} for k, r in results.items()}
    record = {"weights": str(weights), "int8": str(out), "calib_images": seen, "skip": skipped, **plain}
    (work / "quantize.json").write_text(json.dumps(record, indent=2))
    return 0
