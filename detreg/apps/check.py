"""``detreg check``: validate a config fully (every type, every argument and value)."""

from __future__ import annotations

import argparse

from detreg.apps.common import add_common, add_config_args

DESCRIPTION = "validate a config (every type, every argument)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Config, overrides, ``--data``."""
    add_config_args(p, required=True)
    add_common(p)


def run(args: argparse.Namespace) -> int:
    """Print which user code the config imports, then validate; 0 when it is valid."""
    from detreg.config import check
    from detreg.launch import prepare_config
    from detreg.registry import code_references

    cfg = prepare_config(args.config, args.overrides, args.data, validate=False, generate=False)
    refs = code_references(cfg.data)
    if refs:
        print(f"{cfg.path}: imports user code: {'; '.join(refs)}")
    check(cfg)
    n_hooks = sum(1 for v in (cfg.data.get("hooks") or {}).values() if v is not None)
    print(f"{cfg.path}: OK (model {cfg.data['model'].get('type')}, {n_hooks} hooks)")
    return 0
