"""Command-line plumbing shared by every command (``detreg-*`` and the ``detreg`` subcommands).

An app is a module with ``add_arguments(parser)`` and ``run(args) -> int``;
:func:`run_app` gives it a parser (with :func:`add_config_args` when it reads a config),
parses the command line (``key=value`` overrides may stand anywhere) and runs it under
:func:`guard`: user mistakes (:class:`~detreg.errors.DetregError`) print one line and exit 2,
with no traceback unless ``--debug`` (or ``DETREG_DEBUG``) is given.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from detreg.errors import DetregError

if TYPE_CHECKING:
    from detreg.config import Config

EXIT_USER_ERROR = 2

#: Ultralytics spellings people type, and the detreg one (``{}`` is the value).
ULTRALYTICS_KEYS: dict[str, str] = {
    "epochs": "train.epochs={}",
    "imgsz": "train.img_size={}",
    "img_size": "train.img_size={}",
    "batch": "train.batch_size={}",
    "batch_size": "train.batch_size={}",
    "device": "train.device={}",
    "workers": "train.workers={}",
    "seed": "train.seed={}",
    "amp": "train.amp={}",
    "data": "--data {}",
    "lr0": "optimizer.lr={}",
    "resume": "--resume {}",
    "project": "--work-dir {}",
    "name": "--work-dir runs/train/{}",
    "model": "a config as the first argument (e.g. yolov6n)",
}

#: Flags some commands have under their own name (``detreg-infer --img-size``).
_OWN_FLAGS: dict[str, tuple[str, ...]] = {
    "imgsz": ("--img-size",),
    "img_size": ("--img-size",),
    "batch": ("--batch-size",),
    "device": ("--device",),
    "workers": ("--workers",),
}


def guard(fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run ``fn(args)``; turn user errors into one message and an exit code."""
    if getattr(args, "debug", False) or os.environ.get("DETREG_DEBUG"):
        return fn(args)
    try:
        return fn(args)
    except DetregError as exc:
        notes = getattr(exc, "__notes__", [])
        msg = str(exc) + "".join(f" ({n})" for n in notes)
        print(f"detreg: error: {msg}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("detreg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `detreg list | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def add_common(p: argparse.ArgumentParser) -> None:
    """``--debug`` (full tracebacks)."""
    p.add_argument("--debug", action="store_true", help="show full tracebacks")


def add_config_args(p: argparse.ArgumentParser, required: bool = False) -> None:
    """``config`` (file or built-in name), ``key=value`` overrides and ``--data``."""
    p.add_argument(
        "config", nargs=None if required else "?", help="config file or built-in name (e.g. yolov6n)"
    )
    p.add_argument("overrides", nargs="*", help="key.sub=value overrides (values parsed as YAML)")
    p.add_argument("--data", help="a YOLOv6/Ultralytics-style data yaml (path, train, val, nc, names)")


def add_trust_arg(p: argparse.ArgumentParser) -> None:
    """``--trust-imports``: let a checkpoint's stored config import code."""
    p.add_argument(
        "--trust-imports",
        action="store_true",
        help="allow the config stored in the checkpoint to import code (imports:, dotted type paths)",
    )


def _known_options(p: argparse.ArgumentParser) -> set[str]:
    """Every option string of ``p`` and of its sub-commands' parsers."""
    known = set(p._option_string_actions)
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                known |= _known_options(sub)
    return known


def ultralytics_hint(argv: Sequence[str], p: argparse.ArgumentParser) -> str | None:
    """A one-line hint when ``argv`` uses an Ultralytics spelling detreg does not have."""
    known = _known_options(p)
    for i, arg in enumerate(argv):
        if arg.startswith("--"):
            flag, eq, value = arg.partition("=")
            key = flag[2:].replace("-", "_")
            if key not in ULTRALYTICS_KEYS or any(k.startswith(flag) for k in known):
                continue  # a real option (or an abbreviation argparse accepts)
            if not eq:
                value = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("-") else "..."
            own = next((f for f in _OWN_FLAGS.get(key, ()) if f in known), None)
            spelling = f"{own} {value}" if own else ULTRALYTICS_KEYS[key].format(value)
            return f"{flag} is not a detreg option; detreg spells it {spelling}"
        if "=" in arg and not arg.startswith("-"):
            key, _, value = arg.partition("=")
            if key in ULTRALYTICS_KEYS:
                return f"{arg}: detreg spells it {ULTRALYTICS_KEYS[key].format(value)}"
    return None


def parse_args(p: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv`` letting ``key=value`` overrides stand anywhere (before or after flags).

    argparse cannot interleave positionals with options, so overrides are pulled out first.
    Ultralytics spellings (``epochs=3``, ``--imgsz 96``) raise a DetregError naming detreg's.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    hint = ultralytics_hint(argv, p)
    if hint:
        raise DetregError(hint)
    overrides = [a for a in argv if not a.startswith("-") and "=" in a and not os.path.exists(a)]
    args = p.parse_args([a for a in argv if a not in overrides])
    if overrides:
        if not hasattr(args, "overrides"):
            p.error(f"unexpected overrides: {' '.join(overrides)}")
        args.overrides = [*(args.overrides or []), *overrides]
    return args


def parse_and_run(
    p: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    run: Callable[[argparse.Namespace], int] | None = None,
) -> int:
    """Parse ``argv`` with ``p`` (a bad command line is one line and exit 2), then run
    ``run`` (default: the parsed ``args.func``) under :func:`guard`."""
    try:
        args = parse_args(p, argv)
    except DetregError as exc:
        print(f"detreg: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    return guard(run or args.func, args)


def run_app(app: ModuleType, prog: str, description: str, argv: Sequence[str] | None) -> int:
    """Parse ``argv`` for ``app`` (``add_arguments``/``run``) and run it under :func:`guard`."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    app.add_arguments(p)
    return parse_and_run(p, argv, app.run)


# ---------------------------------------------------------------------- configs
def stored_config(
    weights: str | Path,
    overrides: Sequence[str] = (),
    data: str | None = None,
    need_data: bool = True,
    trust_imports: bool = False,
    generate: bool = True,
) -> Config:
    """The config stored in checkpoint ``weights``, with overrides and ``--data`` applied.

    A checkpoint is data: its config may only name registered components. Dotted import
    paths and ``imports:`` in it are refused unless ``trust_imports`` (``--trust-imports``).
    """
    import tempfile

    from detreg.config import dump
    from detreg.engine.checkpoint import load_checkpoint
    from detreg.launch import prepare_config
    from detreg.registry import code_references

    stored = load_checkpoint(weights).get("config")
    if not isinstance(stored, dict):
        raise DetregError(f"{weights}: the checkpoint holds no config; pass the config file too")
    refs = code_references(stored)
    if refs and not trust_imports:
        raise DetregError(
            f"{weights}: the config stored in this checkpoint would import code ({'; '.join(refs)}); "
            "code named in a checkpoint is never imported. Pass the config file it was trained with "
            "(its path first on the command line), or add --trust-imports if you trust this file"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        dump(stored, path)
        cfg = prepare_config(path, list(overrides), data, need_data=need_data, generate=generate)
    cfg.path = Path(weights)
    return cfg


def config_for_weights(args: argparse.Namespace, need_data: bool = True) -> Config:
    """The config given on the command line, or (with only ``--weights``) the checkpoint's."""
    from detreg.launch import prepare_config

    if args.config is not None:
        return prepare_config(args.config, args.overrides, args.data, need_data=need_data)
    trust = getattr(args, "trust_imports", False)
    return stored_config(args.weights, args.overrides, args.data, need_data, trust)
