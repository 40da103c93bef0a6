"""``detreg repopt-scales``: extract RepOpt branch scales from a ``block: hyper_search`` run."""

from __future__ import annotations

import argparse
from pathlib import Path

from detreg.apps.common import add_common
from detreg.errors import DetregError

DESCRIPTION = "extract the RepOpt scales of a hyper_search checkpoint (for optimizer: RepOptSGD)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``checkpoint``, ``-o/--output``, ``--ema``."""
    p.add_argument("checkpoint", help="last.pt or best.pt of a run with block: hyper_search")
    p.add_argument("-o", "--output", default="scales.pt", help="scales file to write (default scales.pt)")
    p.add_argument(
        "--ema", action="store_true", help="take the EMA weights (default: the trained weights, as YOLOv6)"
    )
    add_common(p)


def run(args: argparse.Namespace) -> int:
    """Read the checkpoint (plain data only), extract, write, report."""
    from detreg.engine.checkpoint import load_checkpoint, model_state
    from detreg.optim.repopt_scales import extract_scales, save_scales

    ckpt = load_checkpoint(args.checkpoint)
    state = model_state(ckpt, prefer_ema=args.ema) if "model" in ckpt or "ema" in ckpt else ckpt
    try:
        scales = extract_scales(state)
    except ValueError as exc:
        raise DetregError(f"{args.checkpoint}: {exc}") from None
    try:
        out = save_scales(scales, args.output, source=str(args.checkpoint))
    except OSError as exc:
        raise DetregError(f"could not write {args.output}: {exc.strerror or exc}") from None
    with_id = sum(s.identity is not None for s in scales.values())
    mean3 = sum(float(s.conv3x3.mean()) for s in scales.values()) / len(scales)
    mean1 = sum(float(s.conv1x1.mean()) for s in scales.values()) / len(scales)
    print(
        f"wrote {Path(out)}: scales of {len(scales)} blocks ({with_id} with an identity branch); "
        f"mean 3x3 scale {mean3:.3f}, mean 1x1 scale {mean1:.3f}"
    )
    return 0
