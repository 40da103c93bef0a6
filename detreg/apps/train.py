"""``detreg-train`` / ``detreg train``: validate a config, pick and check the work dir, train.

The work-dir rules, resume lookup and the signal/disk-error handling live in
:mod:`detreg.launch` (``find_resume``, ``select_work_dir``, ``run_training``).
"""

from __future__ import annotations

import argparse

from detreg.apps.common import add_common, add_config_args, add_trust_arg, stored_config

DESCRIPTION = "train a detector from a config"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Config, overrides, ``--data``, ``--work-dir``, ``--resume [PATH]``, ``--exist-ok``, ``--check``."""
    add_config_args(p)
    p.add_argument("--work-dir", help="output folder (default: runs/train/expN)")
    p.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        default=None,
        help="continue from PATH, or (bare) from work_dir/last.pt or the newest runs/train/*/last.pt",
    )
    p.add_argument(
        "--exist-ok",
        action="store_true",
        help="start a new run in a --work-dir that already holds one (its checkpoints are replaced)",
    )
    p.add_argument("--check", action="store_true", help="validate the config and exit (writes nothing)")
    add_trust_arg(p)
    add_common(p)


def run(args: argparse.Namespace) -> int:
    """Train as ``args`` say (``--resume`` without a config uses the checkpoint's stored config)."""
    from detreg.launch import find_resume, prepare_config, run_training, select_work_dir

    resume = args.resume
    generate = not args.check  # --check writes nothing: no synthetic data either
    if resume is not None and args.config is None:  # the config stored in the checkpoint
        resume = find_resume(resume, args.work_dir)
        trust = getattr(args, "trust_imports", False)
        cfg = stored_config(resume, args.overrides, args.data, trust_imports=trust, generate=generate)
    else:
        cfg = prepare_config(args.config, args.overrides, args.data, generate=generate)
        if resume is not None:
            resume = find_resume(resume, args.work_dir or cfg.data.get("work_dir"))
    if args.check:
        from detreg.registry import code_references

        refs = code_references(cfg.data)
        if refs:
            print(f"{cfg.path}: imports user code: {'; '.join(refs)}")
        print(f"{cfg.path}: OK")
        return 0
    work_dir = select_work_dir(cfg, args.work_dir, resume, getattr(args, "exist_ok", False))
    return run_training(cfg, work_dir, resume)
