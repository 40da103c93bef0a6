"""Command-line entry points: ``detreg``, ``detreg-train``, ``detreg-eval``, ``detreg-infer``,
``detreg-export``.

This module only registers the apps (``detreg/apps/*``, each with ``add_arguments(parser)``
and ``run(args)``); the shared plumbing (parsing, one-line errors) is
:mod:`detreg.apps.common`. An app's module is imported only when its command is used, so
``detreg list`` answers fast and imports no torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from detreg import __version__
from detreg.apps.common import parse_and_run, run_app

#: ``detreg <command>``: the app module of each subcommand, and its one-line help.
COMMANDS: dict[str, tuple[str, str]] = {
    "list": ("detreg.apps.listing", "list registered components or built-in configs: detreg list [kind]"),
    "info": ("detreg.apps.info", "signature and docstring of a component, or a model config's size"),
    "hooks": ("detreg.apps.hooks", "print the per-event hook table of a config"),
    "check": ("detreg.apps.check", "validate a config (every type, every argument)"),
    "train": ("detreg.apps.train", "same as detreg-train"),
    "eval": ("detreg.apps.evaluate", "same as detreg-eval"),
    "infer": ("detreg.apps.infer", "same as detreg-infer"),
    "export": ("detreg.apps.export", "same as detreg-export"),
    "quantize": ("detreg.apps.quantize", "int8 post-training quantization: calibrate, convert, compare mAP"),
    "data": ("detreg.apps.data", "dataset tools: synth, check, convert, show-batch"),
    "repopt-scales": ("detreg.apps.repopt_scales", "extract RepOpt scales from a hyper_search checkpoint"),
}


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``detreg`` parser; only the apps in ``commands`` (default: all) are imported to
    add their arguments, the others are listed by name and help."""
    p = argparse.ArgumentParser(prog="detreg", description="detreg: plugin-registry object detection toolbox")
    p.add_argument("--version", action="version", version=f"detreg {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        s = sub.add_parser(name, help=help_, description=help_)
        if commands is None or name in commands:
            app = importlib.import_module(module)
            app.add_arguments(s)
            s.set_defaults(func=app.run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``detreg <command> ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = [argv[0]] if argv and argv[0] in COMMANDS else []
    return parse_and_run(build_parser(chosen), argv)


def _entry(module: str, prog: str, argv: Sequence[str] | None) -> int:
    app = importlib.import_module(module)
    return run_app(app, prog, app.DESCRIPTION, argv)


def train_main(argv: Sequence[str] | None = None) -> int:
    """``detreg-train cfg.yaml [key=value ...] [--data D] [--work-dir W] [--resume [PATH]]``."""
    return _entry("detreg.apps.train", "detreg-train", argv)


def eval_main(argv: Sequence[str] | None = None) -> int:
    """``detreg-eval [cfg.yaml] --weights best.pt [key=value ...] [--data D]``."""
    return _entry("detreg.apps.evaluate", "detreg-eval", argv)


def infer_main(argv: Sequence[str] | None = None) -> int:
    """``detreg-infer [cfg.yaml] --weights best.pt --source DIR|IMAGE``."""
    return _entry("detreg.apps.infer", "detreg-infer", argv)


def export_main(argv: Sequence[str] | None = None) -> int:
    """``detreg-export [cfg.yaml] --weights best.pt --format onnx``."""
    return _entry("detreg.apps.export", "detreg-export", argv)


if __name__ == "__main__":
    sys.exit(main())
