"""``detreg hooks``: the per-event table of a config's hooks, in the order they run."""

from __future__ import annotations

import argparse

from detreg.apps.common import add_common, add_config_args

DESCRIPTION = "print the per-event hook table of a config"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Config, overrides, ``--data`` (not needed: no dataset is read)."""
    add_config_args(p, required=True)
    add_common(p)


def run(args: argparse.Namespace) -> int:
    """Print, per event, the hooks that run and their order."""
    from detreg.engine.hook import hook_priority, order_hooks, overridden_events
    from detreg.events import ALL_EVENTS
    from detreg.launch import prepare_config
    from detreg.registry import HOOKS

    cfg = prepare_config(args.config, args.overrides, args.data, need_data=False)
    configured = [(n, h) for n, h in (cfg.data.get("hooks") or {}).items() if h is not None]
    hooks = [(hook_priority(h), n, HOOKS.get(h["type"])) for n, h in order_hooks(configured, hook_priority)]
    print(f"hooks of {cfg.path} (lower priority runs first; ties keep config order)")
    for event in ALL_EVENTS:
        rows = [
            f"{pr:>4}  {name} ({cls.__name__})" for pr, name, cls in hooks if event in overridden_events(cls)
        ]
        print(f"{event}:")
        print("\n".join("  " + r for r in rows) if rows else "  -")
    return 0
