"""``python -m detreg.train``: the ``detreg-train`` command as a module, for ``torchrun``.

``torchrun --nproc_per_node 2 -m detreg.train cfg.yaml [key=value ...]`` trains with one
process per GPU (or CPU worker); see ``docs/distributed.md``.

When one worker fails, torchrun stops the others with SIGTERM; it is turned into
``SystemExit`` here so their ``after_run`` hooks still run and they leave the process group.
"""

from __future__ import annotations

import signal
from types import FrameType

from detreg.cli import train_main


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    raise SystemExit(train_main())
