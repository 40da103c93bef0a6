"""Launch ``torchrun -m detreg.train`` with 2 CPU processes (Gloo) for the distributed tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(
    cfg: Path, helper_dir: Path, timeout: float, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Train ``cfg`` in 2 processes, one torch thread each; ``tests/`` and ``helper_dir``
    (where the test's probe hooks live) are importable in them."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(helper_dir), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    env.update(env_extra or {})
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd += ["--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", "detreg.train", str(cfg)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
