"""Issue 11.5 and 10.12: one run per work dir, no silent reuse, resume finds its folder.

- ``work_dir/.lock`` is held (``fcntl.flock``) for the run's life; a second run on the
  folder stops with one line naming the holder; a lock left by a dead process is taken over.
- A new run over a folder that holds a run is refused unless ``--exist-ok`` (then a warning,
  and the old ``metrics.jsonl`` is kept aside, not appended to); without any work dir a new
  numbered ``runs/train/expN`` is used.
- ``--resume PATH`` with a config continues in the checkpoint's folder; a bare ``--resume``
  continues the newest run; ``--check`` writes nothing (no work dir, no synthetic data).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from detreg.cli import train_main
from detreg.engine import Hook
from detreg.engine.checkpoint import load_checkpoint
from detreg.engine.runner import Runner
from detreg.engine.workdir import WorkDirLock, lock_holder
from detreg.errors import DetregError
from detreg.launch import prepare_config

HOOKS = """\
metrics: {type: MetricsFileHook, plots: false}
tensorboard: null
images: null
"""


class SeeLockHook(Hook):
    """Records who holds the work dir's lock while the run is on."""

    seen: list[str | None] = []

    def before_train(self, runner) -> None:
        SeeLockHook.seen.append(lock_holder(runner.work_dir))


@pytest.fixture()
def warnings_seen():
    """The messages the ``detreg`` logger emits during the test (it does not propagate)."""
    seen: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())
    logger = logging.getLogger("detreg")
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)


def errors(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("detreg: error")]


def test_lock_is_held_for_the_run_and_released_after(toy_config) -> None:
    SeeLockHook.seen.clear()
    runner = Runner(prepare_config(toy_config(f"see: {{type: {__name__}.SeeLockHook}}\n", epochs=1)))
    runner.train()
    assert SeeLockHook.seen and f"pid {os.getpid()}" in SeeLockHook.seen[0]
    assert lock_holder(runner.work_dir) is None
    assert (runner.work_dir / ".lock").read_text() == ""  # a clean end empties it


def test_second_run_on_a_locked_folder_names_the_holder(toy_config, tmp_path, capsys, warnings_seen) -> None:
    work = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""\
            import sys, time
            from detreg.engine.workdir import WorkDirLock
            WorkDirLock({str(work)!r}).acquire()
            print("locked", flush=True)
            time.sleep(60)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        path = toy_config("", epochs=1)
        assert train_main([str(path)]) == 2
        err = errors(capsys)
        assert len(err) == 1
        assert f"work dir {work} is in use by another detreg run (pid {holder.pid} on " in err[0]
        assert not (work / "config.yaml").exists()  # the other run's files are left alone
        with pytest.raises(DetregError, match=f"pid {holder.pid}"):  # the runner checks too
            Runner(prepare_config(path)).train()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the holder died without releasing: its lock is stale and taken over, with a warning
    assert "pid" in (work / ".lock").read_text()
    assert train_main([str(path)]) == 0
    assert any("taking over the lock of a run that ended without releasing it" in w for w in warnings_seen)
    assert load_checkpoint(work / "last.pt")["epoch"] == 1


def test_lock_in_process_is_exclusive(tmp_path: Path) -> None:
    with WorkDirLock(tmp_path / "w"):
        with pytest.raises(DetregError, match="is in use by another detreg run"):
            WorkDirLock(tmp_path / "w").acquire()
    WorkDirLock(tmp_path / "w").acquire().release()


def test_new_run_over_an_existing_run_is_refused_unless_exist_ok(toy_config, capsys, warnings_seen) -> None:
    path = toy_config(HOOKS, epochs=1)
    work = path.parent / "run"
    assert train_main([str(path)]) == 0
    first = (work / "metrics.jsonl").read_text()
    capsys.readouterr()
    assert train_main([str(path)]) == 2
    err = errors(capsys)
    assert len(err) == 1 and f"work dir {work} already holds a run (last.pt, metrics.jsonl)" in err[0]
    assert f"detreg-train {work / 'config.yaml'} --resume {work / 'last.pt'}" in err[0]
    assert "--exist-ok" in err[0]
    assert train_main([str(path), "--exist-ok"]) == 0
    assert any("already holds a run" in w and "--exist-ok" in w for w in warnings_seen)
    assert (work / "metrics.prev.jsonl").read_text() == first
    records = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1]  # a fresh file, not appended to


def test_without_work_dir_each_run_gets_a_new_numbered_folder(
    toy_config, tmp_path: Path, monkeypatch
) -> None:
    path = toy_config("last: {type: CheckpointHook}\n", epochs=1)
    path.write_text(path.read_text().replace(f"work_dir: {tmp_path / 'run'}\n", ""))
    monkeypatch.chdir(tmp_path)
    assert train_main([str(path)]) == 0
    assert train_main([str(path)]) == 0
    assert (tmp_path / "runs/train/exp/last.pt").is_file() and (
        tmp_path / "runs/train/exp2/last.pt"
    ).is_file()
    # a bare --resume continues the newest run (its stored config, its folder; the toy model
    # is local code, which a checkpoint's config names only with --trust-imports)
    assert train_main(["--resume", "train.epochs=2", "--trust-imports"]) == 0
    assert load_checkpoint(tmp_path / "runs/train/exp2/last.pt")["epoch"] == 2
    assert load_checkpoint(tmp_path / "runs/train/exp/last.pt")["epoch"] == 1
    assert not (tmp_path / "runs/train/exp3").exists()


def test_resume_with_a_config_continues_in_the_checkpoint_folder(toy_config, tmp_path: Path) -> None:
    path = toy_config("last: {type: CheckpointHook}\n", epochs=1)
    assert train_main([str(path), f"work_dir={tmp_path / 'a'}"]) == 0
    assert train_main([str(path), "--resume", str(tmp_path / "a" / "last.pt"), "train.epochs=2"]) == 0
    assert load_checkpoint(tmp_path / "a" / "last.pt")["epoch"] == 2
    assert not (tmp_path / "run").exists()  # the config's work_dir is not used for a resume


def test_check_writes_nothing(toy_config, tmp_path: Path, monkeypatch, capsys) -> None:
    synth = tmp_path / "synth"
    cfg = tmp_path / "synth_cfg.yaml"
    cfg.write_text(
        textwrap.dedent(f"""\
            model: {{type: toy_components.ToyDetector, width: 4}}
            data:
              synth: {{root: {synth}, train: 4, val: 2, size: 64}}
              train: {{transforms: [{{type: Letterbox}}]}}
              val: {{transforms: [{{type: Letterbox}}]}}
            optimizer: {{type: SGD, lr: 0.01}}
            train: {{epochs: 1, batch_size: 2, img_size: 64, workers: 0}}
            """)
    )
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert train_main([str(cfg), "--check"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{cfg}: OK"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no runs/, no synth/
    assert train_main([str(cfg), "--check", "train.batch_size=0"]) == 2  # still validated
