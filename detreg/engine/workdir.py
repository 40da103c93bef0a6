"""The work dir of a run: an exclusive lock for the run's life, and what a run leaves there.

``work_dir/.lock`` is locked with ``fcntl.flock`` by the training process (rank 0 under
torchrun) from start to end and holds ``{pid, host, started, command}`` of the holder.
The kernel drops the lock when the process dies, so a lock left by a killed run is
simply taken over (with a warning naming it). A cleanly ended run empties the file.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from detreg.errors import DetregError

LOCK_NAME = ".lock"

#: Files whose presence means a folder already holds a run's results.
RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl")


def _describe(info: dict[str, Any]) -> str:
    if not info:
        return "another process"
    started = info.get("started")
    when = f", started {started}" if started else ""
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')}{when}: {info.get('command', '?')}"


def _read_info(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


class WorkDirLock:
    """Exclusive lock on ``work_dir`` (see the module docstring); a context manager."""

    def __init__(self, work_dir: str | Path) -> None:
        self.work_dir = Path(work_dir)
        self.path = self.work_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, logger: logging.Logger | None = None) -> WorkDirLock:
        """Create the folder and lock it, or raise :class:`DetregError` naming the holder."""
        try:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise DetregError(f"cannot use work dir {self.work_dir}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DetregError(f"cannot lock work dir {self.work_dir}: {exc.strerror or exc}") from None
            holder = _describe(_read_info(self.path))
            raise DetregError(
                f"work dir {self.work_dir} is in use by another detreg run ({holder}); "
                "wait for it to end or choose another --work-dir"
            ) from None
        previous = _read_info(self.path)
        if previous and logger is not None:
            logger.warning(
                "work dir %s: taking over the lock of a run that ended without releasing it (%s)",
                self.work_dir,
                _describe(previous),
            )
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "",
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the lock file (a clean end) and unlock it."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> WorkDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_holder(work_dir: str | Path) -> str | None:
    """A description of the live process holding ``work_dir``'s lock, or None when free."""
    path = Path(work_dir) / LOCK_NAME
    if not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _describe(_read_info(path))
    finally:
        os.close(fd)
    return None


def existing_run_files(work_dir: str | Path) -> list[str]:
    """The names of :data:`RUN_FILES` that ``work_dir`` already holds."""
    work_dir = Path(work_dir)
    return [name for name in RUN_FILES if (work_dir / name).exists()]
