"""``detreg data``: dataset tools (check, convert, show, synth) from :mod:`detreg.data.cli`."""

from __future__ import annotations

import argparse

from detreg.apps.common import add_common

DESCRIPTION = "dataset tools: synth, check, convert, show-batch"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``detreg data`` sub-commands (imports cv2: only when asked for)."""
    from detreg.data.cli import add_parsers

    add_parsers(p.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND"))
    add_common(p)


def run(args: argparse.Namespace) -> int:
    """Run the chosen data sub-command."""
    return args.func(args)
