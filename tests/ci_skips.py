"""pytest plugin: under ``CI=true`` a skipped test fails the run.

CI installs every optional feature the README promises (``pip install -e ".[test]"``), so a
skip there means a feature went untested (an extra missing from the install, a test that
skips itself); locally, skips stay skips. Loaded by ``tests/conftest.py``.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    """True when the ``CI`` environment variable says so (``true``, ``1``, ``yes``)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _skipped(session: pytest.Session) -> list[pytest.TestReport | pytest.CollectReport]:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    return list(reporter.stats.get("skipped", [])) if reporter is not None else []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Turn a passing CI run with skips into a failing one."""
    ok = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    if in_ci() and exitstatus in ok and _skipped(session):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int) -> None:  # noqa: ANN001 - pytest's type
    """Say why the run failed: every skip with its reason."""
    skipped = list(terminalreporter.stats.get("skipped", []))
    if not (in_ci() and skipped):
        return
    terminalreporter.write_sep("=", f"CI=true: {len(skipped)} skip(s) fail the run", red=True)
    for rep in skipped:
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        terminalreporter.write_line(f"{rep.nodeid}: {reason}")
