"""Issue 11.7: disk full / unwritable work dir give one line, and the previous checkpoint lives.

Also: temp files left by an interrupted checkpoint save are removed at the next start
(only names of detreg's own pattern).
"""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

import pytest
import torch

from detreg.cli import train_main
from detreg.engine import Hook
from detreg.engine.checkpoint import clean_temp_files, load_checkpoint, save_checkpoint
from detreg.engine.runner import Runner
from detreg.errors import DetregError
from detreg.launch import prepare_config


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_is_one_line_and_the_previous_file_is_intact(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1}, path)
    monkeypatch.setattr(torch, "save", no_space)
    with pytest.raises(DetregError) as info:
        save_checkpoint({"epoch": 2}, path)
    intact = "the previous last.pt is intact"
    assert str(info.value) == f"could not write checkpoint {path}: No space left on device; {intact}"
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def test_unwritable_folder_says_so(tmp_path: Path, monkeypatch) -> None:
    def read_only(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(
        DetregError,
        match=r"could not write checkpoint .*best.pt: Permission denied; "
        r"no best.pt was written before",
    ):
        save_checkpoint({"epoch": 2}, tmp_path / "best.pt")


def test_disk_full_during_training_exits_with_one_line(toy_config, monkeypatch, capsys) -> None:
    path = toy_config("logger: null\nlast: {type: CheckpointHook}\n", epochs=1)
    assert train_main([str(path)]) == 0
    last = path.parent / "run" / "last.pt"
    assert load_checkpoint(last)["epoch"] == 1
    capsys.readouterr()
    monkeypatch.setattr(torch, "save", no_space)
    assert train_main(["--resume", str(last), "--trust-imports", "train.epochs=2"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("detreg: error")]
    assert len(err) == 1, err
    assert "could not write checkpoint" in err[0] and "last.pt: No space left on device" in err[0]
    assert "the previous last.pt is intact" in err[0]
    monkeypatch.undo()
    assert load_checkpoint(last)["epoch"] == 1


def test_work_dir_that_cannot_be_created_is_one_line(toy_config, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    cfg = prepare_config(toy_config(), [f"work_dir={blocker / 'run'}"])
    with pytest.raises(DetregError, match=r"cannot use work dir .*a_file/run: Not a directory"):
        Runner(cfg).train()


def test_orphan_temp_files_of_a_crashed_save_are_cleaned_at_start(toy_config, tmp_path: Path) -> None:
    work = tmp_path / "run"
    work.mkdir()
    ours = [".last.pt.k3j_9x2a.tmp", ".best.pt.abcdefgh.tmp", ".epoch_3.pt.0123456_.tmp"]
    theirs = [".notes.txt.abcdefgh.tmp", "last.pt.tmp", ".last.pt.tmp", "data.tmp", ".last.pt.TOOLONG99.tmp"]
    for name in ours + theirs:
        (work / name).write_bytes(b"partial")
    Runner(prepare_config(toy_config("logger: null\n", epochs=1))).train()
    left = {p.name for p in work.iterdir()}
    assert not left & set(ours)
    assert set(theirs) <= left
    assert clean_temp_files(tmp_path / "missing") == []


class FullDiskHook(Hook):
    """Fails like a full disk when writing a (made-up) log file after epoch ``at``."""

    def __init__(self, at: int = 1) -> None:
        self.at = at

    def after_epoch(self, runner) -> None:
        if runner.epoch == self.at:
            raise OSError(errno.ENOSPC, "No space left on device", str(runner.work_dir / "metrics.jsonl"))


def test_any_file_a_full_disk_refuses_is_one_line(toy_config, capsys) -> None:
    hooks = f"last: {{type: CheckpointHook}}\nfull: {{type: {__name__}.FullDiskHook, at: 1}}\n"
    path = toy_config(hooks, epochs=2)
    assert train_main([str(path)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("detreg: error")]
    work = path.parent / "run"
    assert err == [
        f"detreg: error: could not write {work / 'metrics.jsonl'}: No space left on device; "
        f"{work / 'last.pt'} is intact"
    ]
