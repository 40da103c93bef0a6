"""``detreg-train`` / ``detreg train``: validate a config, write it to the work dir, train."""

from __future__ import annotations

import argparse
import os

from detreg.apps.common import add_common, add_config_args, add_trust_arg, stored_config
from detreg.errors import DetregError

DESCRIPTION = "train a detector from a config"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Config, overrides, ``--data``, ``--work-dir``, ``--resume [PATH]``, ``--check``."""
    add_config_args(p)
    p.add_argument("--work-dir", help="output folder (default: runs/train/expN)")
    p.add_argument(
        "--resume", nargs="?", const="auto", default=None, help="continue from work_dir/last.pt or PATH"
    )
    p.add_argument("--check", action="store_true", help="validate the config and exit")
    add_trust_arg(p)
    add_common(p)


def run(args: argparse.Namespace) -> int:
    """Train as ``args`` say (``--resume PATH`` alone uses the checkpoint's stored config)."""
    from detreg.launch import prepare_config

    resume = args.resume
    if resume not in (None, "auto") and args.config is None:  # `--resume path/last.pt` alone
        cfg = stored_config(resume, args.overrides, args.data, trust_imports=args.trust_imports)
        args.work_dir = args.work_dir or os.path.dirname(resume)
    else:
        cfg = prepare_config(args.config, args.overrides, args.data)
    if args.check:
        from detreg.registry import code_references

        refs = code_references(cfg.data)
        if refs:
            print(f"{cfg.path}: imports user code: {'; '.join(refs)}")
        print(f"{cfg.path}: OK")
        return 0
    from detreg.config import dump
    from detreg.engine.runner import Runner

    work_dir = args.work_dir or cfg.data.get("work_dir")
    if resume == "auto":
        if not work_dir:
            raise DetregError(
                "--resume without a path needs a work dir (--work-dir or work_dir: in the config)"
            )
        resume = os.path.join(work_dir, "last.pt")
        if not os.path.isfile(resume):
            raise DetregError(f"--resume: no checkpoint at {resume}")
    runner = Runner(cfg, work_dir=work_dir, resume=resume)
    if runner.is_main:
        dump(cfg, runner.work_dir / "config.yaml")
    runner.train()
    return 0
