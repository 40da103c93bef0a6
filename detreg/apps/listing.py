"""``detreg list``: registered names with their origin (imports no torch)."""

from __future__ import annotations

import argparse
import fnmatch

from detreg.apps.common import add_common
from detreg.errors import DetregError

DESCRIPTION = "list registered components (detreg list [kind] [pattern]) or built-in configs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``kind`` (or a pattern) and ``pattern``."""
    p.add_argument("kind", nargs="?", help="hooks, models, losses, ..., configs (or a pattern)")
    p.add_argument("pattern", nargs="?", help="substring or glob (EMA*)")
    add_common(p)


def _match(name: str, pattern: str) -> bool:
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatch(name.lower(), pattern.lower())
    return pattern.lower() in name.lower()


def _list_configs(pattern: str | None) -> int:
    """The built-in configs with their size (80 classes, fused, 640x640) and first comment line."""
    from detreg.builtin_configs import builtin_config_dir, builtin_config_names, find_builtin
    from detreg.config import load_config
    from detreg.models.summary import config_summary

    print(f"built-in configs (in {builtin_config_dir()}; params and GFLOPs: fused, 80 classes, 640x640):")
    for name in builtin_config_names():
        if pattern and not _match(name, pattern):
            continue
        path = find_builtin(name)
        s = config_summary(load_config(path).data["model"])
        first = (path.read_text().splitlines() or [""])[0]
        about = first.lstrip("# ").split(": ")[0].strip() if first.startswith("#") else ""
        print(f"  {name:<14} {s['params'] / 1e6:6.2f} M {s['gflops']:7.2f} GFLOPs  {about}", flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    """Print registered names with their origin (detreg or a plugin distribution)."""
    from detreg.registry import KINDS, REGISTRIES, plugin_failures

    if args.kind == "configs":
        return _list_configs(args.pattern)
    kinds = list(KINDS)
    pattern = args.pattern
    if args.kind and args.kind not in REGISTRIES:
        singular = {k[:-1]: k for k in KINDS} | {"loss": "losses"}
        if args.kind in singular:
            kinds = [singular[args.kind]]
        elif pattern is None:  # `detreg list EMA*` filters every kind
            pattern = args.kind
        else:
            raise DetregError(f"unknown kind '{args.kind}'; kinds: {', '.join(KINDS)}")
    elif args.kind:
        kinds = [args.kind]
    for kind in kinds:
        rows = []
        for e in REGISTRIES[kind].entries():
            if pattern and not _match(e.name, pattern):
                continue
            alias = f"  (alias of {e.canonical})" if e.canonical else ""
            rows.append(f"  {e.name:<28} {e.origin}{alias}")
        if rows or not pattern:
            print(f"{kind}:")
            print("\n".join(rows) if rows else "  (none)")
    for f in plugin_failures():
        print(f"failed plugin: {f}")
    return 0
