"""Helpers for ``test_semi_ddp.py``, imported by dotted path in the torchrun workers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from torch import nn

from detreg.engine import Hook


def param_hash(model: nn.Module) -> str:
    """sha256 of every parameter, in order. Not the BN buffers: each rank's last forward
    updates its own running statistics (DDP broadcasts rank 0's at the next forward), so
    they differ between ranks at the end of any DDP run, supervised or not."""
    h = hashlib.sha256()
    for name, t in model.named_parameters():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class SemiProbe(Hook):
    """Records the unlabeled images, the student and the teacher of one rank."""

    priority = 40  # after the semi hook (35) drew the step's unlabeled batch

    def __init__(self) -> None:
        self.rec: dict[str, Any] = {"unlabeled": [], "unsup": []}

    def _semi(self, runner: Any) -> Any:
        return next(h for _, h in runner.hooks if type(h).__name__ == "DenseTeacherHook")

    def before_step(self, runner: Any) -> None:
        batch = self._semi(runner)._batch
        if batch is not None:
            self.rec["unlabeled"].append(list(batch["paths"]))

    def after_step(self, runner: Any) -> None:
        self.rec["unsup"].append(float(runner.outputs.get("unsup", 0.0)))

    def after_run(self, runner: Any) -> None:
        semi = self._semi(runner)
        self.rec["wrapped"] = type(runner.model).__name__
        self.rec["student"] = param_hash(runner.unwrapped_model)
        self.rec["teacher"] = param_hash(semi.teacher.module)
        self.rec["updates"] = semi.teacher.updates
        (Path(runner.work_dir) / f"semi_rank{runner.rank}.json").write_text(json.dumps(self.rec))
