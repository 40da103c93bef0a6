"""Issue 11.6: SIGTERM and SIGINT stop ``detreg-train`` cleanly.

The current step finishes (or, outside a step, the work is abandoned), ``after_run``
runs, no half-epoch checkpoint is written (``last.pt`` stays the last epoch's), the lock
is released, and one message gives the work dir and the exact resume command; the exit
code is 128 + the signal (143 for SIGTERM, 130 for Ctrl-C).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detreg.engine import Hook
from detreg.engine.checkpoint import load_checkpoint
from detreg.engine.runner import Runner
from detreg.engine.signals import TrainingInterrupted
from detreg.engine.workdir import lock_holder
from detreg.launch import prepare_config

HERE = Path(__file__).resolve().parent


class TraceHook(Hook):
    """Appends ``event iter`` lines to ``work_dir/trace.txt``; optionally slows each step and
    sends ``signum`` to its own process in ``before_step`` of iteration ``at``.
    """

    def __init__(self, sleep: float = 0.0, signum: int | None = None, at: int = -1) -> None:
        self.sleep, self.signum, self.at = sleep, signum, at

    def _trace(self, runner, event: str) -> None:
        with open(runner.work_dir / "trace.txt", "a") as f:
            f.write(f"{event} {runner.iter}\n")

    def before_step(self, runner) -> None:
        if runner.iter == self.at and self.signum is not None:
            os.kill(os.getpid(), self.signum)  # arrives during this step: the step finishes
        time.sleep(self.sleep)

    def after_step(self, runner) -> None:
        self._trace(runner, "after_step")

    def after_run(self, runner) -> None:
        self._trace(runner, "after_run")


class SignalInEvalHook(Hook):
    """Sends SIGTERM to its own process when evaluation starts (outside any step)."""

    def before_val(self, runner) -> None:
        os.kill(os.getpid(), signal.SIGTERM)


def spawn(*argv: str) -> subprocess.Popen:
    """``detreg-train ARGV`` in a new process that can import this module's hooks."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(HERE.parent), env.get("PYTHONPATH", "")])
    code = "import sys; from detreg.cli import train_main; sys.exit(train_main())"
    return subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def trace(work: Path) -> list[str]:
    return (work / "trace.txt").read_text().splitlines()


@pytest.mark.slow
def test_sigterm_from_outside_keeps_last_pt_and_says_how_to_resume(toy_config) -> None:
    cfg = toy_config(
        f"trace: {{type: {__name__}.TraceHook, sleep: 0.05}}\nlast: {{type: CheckpointHook}}\n", epochs=40
    )
    work = cfg.parent / "run"
    proc = spawn(str(cfg))
    deadline = time.monotonic() + 120
    while not (work / "last.pt").is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    done = load_checkpoint(work / "last.pt")["epoch"]  # a whole epoch: exact to resume from
    stop = [line for line in err.splitlines() if line.startswith("detreg: stopped by SIGTERM")]
    assert len(stop) == 1, err
    last = work / "last.pt"
    assert (
        f"work dir {work}" in stop[0] and f"last checkpoint {last} (after epoch {done}) is intact" in stop[0]
    )
    command = stop[0].split("resume with: ", 1)[1]
    assert command == f"detreg-train {work / 'config.yaml'} --resume {last}"
    assert trace(work)[-1].startswith("after_run")  # hooks cleaned up
    assert lock_holder(work) is None and not list(work.glob(".*.tmp"))
    # the printed command resumes (here extended by one epoch only, to keep the test short)
    program, *argv = shlex.split(command)
    assert program == "detreg-train"
    resumed = spawn(*argv, f"train.epochs={done + 1}")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert load_checkpoint(last)["epoch"] == done + 1


def test_sigint_during_a_step_lets_the_step_finish(toy_config) -> None:
    # 3 steps per epoch: SIGINT arrives in iteration 4 (epoch 2), which still completes
    hooks = (
        f"trace: {{type: {__name__}.TraceHook, signum: {int(signal.SIGINT)}, at: 4}}\n"
        "last: {type: CheckpointHook}\n"
    )
    runner = Runner(prepare_config(toy_config(hooks, epochs=3)))
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted) as info:
        runner.train()
    assert info.value.exit_code == 130 and info.value.name == "SIGINT"
    lines = trace(runner.work_dir)
    assert lines[-2:] == ["after_step 4", "after_run 5"]  # step 4 finished, step 5 never ran
    assert load_checkpoint(runner.work_dir / "last.pt")["epoch"] == 1  # no half-epoch checkpoint
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored


def test_signal_outside_a_step_stops_at_once(toy_config) -> None:
    hooks = (
        f"trace: {{type: {__name__}.TraceHook}}\nstop: {{type: {__name__}.SignalInEvalHook}}\n"
        "last: {type: CheckpointHook}\n"
        "eval: {type: EvalHook, interval: 1, plots: never}\n"
    )
    runner = Runner(prepare_config(toy_config(hooks, epochs=2)))
    with pytest.raises(TrainingInterrupted) as info:
        runner.train()
    assert info.value.exit_code == 143
    assert trace(runner.work_dir)[-1] == "after_run 3"
    # last.pt of epoch 1 was written before evaluation and says what the epoch still owes
    ckpt = load_checkpoint(runner.work_dir / "last.pt")
    owed = ckpt["epoch_end"]["owed"]
    assert ckpt["epoch"] == 1 and owed[0] in ("checkpoint", "last") and "eval" in owed and "metrics" in owed
