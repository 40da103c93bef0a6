"""Under CI=true a skipped test (a missing optional package) fails the run; locally it does not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize(("ci", "code"), [("true", 1), ("", 0)])
def test_a_skip_fails_only_in_ci(tmp_path: Path, ci: str, code: int) -> None:
    (tmp_path / "test_x.py").write_text(
        "import pytest\npytest.importorskip('no_such_module_xyz')\n\ndef test_a():\n    pass\n"
    )
    (tmp_path / "test_y.py").write_text("def test_b():\n    pass\n")
    env = {
        **os.environ,
        "CI": ci,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "ci_skips",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(tmp_path),
    ]
    proc = subprocess.run([*cmd, str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == code, proc.stdout + proc.stderr
    if ci:
        assert "CI=true: 1 skip(s) fail the run" in proc.stdout
        assert "no_such_module_xyz" in proc.stdout
