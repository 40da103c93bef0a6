"""Issue 11.4: a crash after the epoch's ``last.pt`` but before its end-of-epoch work is done
(evaluation, ``best.pt``, the metrics line) is finished by the resume, not lost.

``last.pt`` written during ``after_epoch`` records which ``after_epoch`` hooks had not
returned (``epoch_end.owed``); the runner notes each completed epoch end in the work dir,
and a resume from a checkpoint whose epoch end was cut short fires those hooks again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detreg.engine import Hook
from detreg.engine.checkpoint import load_checkpoint
from detreg.engine.runner import Runner
from detreg.launch import prepare_config

HOOKS = f"""\
crash: {{type: {__name__}.CrashInEvalHook, at: 1}}
eval: {{type: EvalHook, interval: 100, plots: never}}
best: {{type: BestCheckpointHook, strip: false}}
metrics: {{type: MetricsFileHook, plots: false}}
progress: null
tensorboard: null
images: null
"""


class CrashInEvalHook(Hook):
    """Crash when evaluation of 0-based epoch ``at`` starts; records every evaluated epoch."""

    evaluated: list[int] = []

    def __init__(self, at: int = -1) -> None:
        self.at = at

    def before_val(self, runner) -> None:
        if runner.epoch == self.at:
            raise RuntimeError("simulated crash during evaluation")

    def after_val(self, runner) -> None:
        CrashInEvalHook.evaluated.append(runner.epoch)


def records(work: Path) -> list[dict]:
    return [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]


def test_resume_finishes_the_evaluation_best_and_metrics_the_crash_lost(toy_config) -> None:
    path = toy_config(HOOKS, epochs=2)
    first = Runner(prepare_config(path))
    with pytest.raises(RuntimeError, match="simulated crash"):
        first.train()
    work = first.work_dir
    ckpt = load_checkpoint(work / "last.pt")
    assert ckpt["epoch"] == 2 and ckpt["epoch_end"]["owed"] == ["checkpoint", "eval", "metrics"]
    assert not (work / "best.pt").exists() and [r["epoch"] for r in records(work)] == [1]

    CrashInEvalHook.evaluated.clear()
    resumed = Runner(prepare_config(path, ["hooks.crash.at=-1"]), resume=work / "last.pt")
    resumed.train()
    assert CrashInEvalHook.evaluated == [1]  # the final epoch's evaluation, once
    assert resumed.iter == first.iter  # nothing trained again
    best = load_checkpoint(work / "best.pt")
    assert best["epoch"] == 2 and best["best_fitness"] == resumed.metrics["mAP50_95"]
    last = records(work)[-1]
    assert last["epoch"] == 2 and "mAP50_95" in last
    # the finished epoch end is recorded: resuming the same last.pt again owes nothing
    CrashInEvalHook.evaluated.clear()
    Runner(prepare_config(path, ["hooks.crash.at=-1"]), resume=work / "last.pt").train()
    assert CrashInEvalHook.evaluated == []


def test_a_completed_epoch_is_not_redone_on_resume(toy_config) -> None:
    path = toy_config(HOOKS.replace("interval: 100", "interval: 1"), extra="", epochs=2)
    CrashInEvalHook.evaluated.clear()
    first = Runner(prepare_config(path, ["hooks.crash.at=-1"]))
    first.train()
    assert CrashInEvalHook.evaluated == [0, 1]
    assert load_checkpoint(first.work_dir / "last.pt")["epoch_end"]["owed"]  # written mid epoch end
    CrashInEvalHook.evaluated.clear()
    Runner(
        prepare_config(path, ["hooks.crash.at=-1", "train.epochs=3"]), resume=first.work_dir / "last.pt"
    ).train()
    assert CrashInEvalHook.evaluated == [2]
    assert [r["epoch"] for r in records(first.work_dir)] == [1, 2, 3]


def test_a_checkpoint_moved_without_its_folder_redoes_the_epoch_end(toy_config, tmp_path: Path) -> None:
    path = toy_config(HOOKS.replace("interval: 100", "interval: 1"), epochs=1)
    first = Runner(prepare_config(path, ["hooks.crash.at=-1"]))
    first.train()
    moved = tmp_path / "elsewhere" / "last.pt"
    moved.parent.mkdir()
    moved.write_bytes((first.work_dir / "last.pt").read_bytes())
    CrashInEvalHook.evaluated.clear()
    Runner(prepare_config(path, ["hooks.crash.at=-1", f"work_dir={moved.parent}"]), resume=moved).train()
    assert CrashInEvalHook.evaluated == [0]  # unknown whether it completed: done again (safe side)
