"""Helpers for ``test_distributed.py``, imported by dotted path in the torchrun workers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from toy_components import ToyDetector

from detreg.engine import Hook


class FlatToy(ToyDetector):
    """:class:`ToyDetector` without BatchNorm: its gradient is a plain mean over images, so
    a 2-process step can be compared with a 1-process step on the same images."""

    def __init__(self, num_classes: int, width: int = 8) -> None:
        super().__init__(num_classes, width)
        self.net[1] = nn.Identity()


def state_hash(model: nn.Module) -> str:
    """sha256 of every parameter and buffer, in order."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class RankProbe(Hook):
    """Records what one rank saw; writes ``work_dir/probe_rank{R}.json`` in ``after_run``.

    ``fail_rank``/``fail_iter``: raise in ``after_step`` on that rank at that iteration.
    """

    priority = 95

    def __init__(self, fail_rank: int = -1, fail_iter: int = 0) -> None:
        self.fail_rank = fail_rank
        self.fail_iter = fail_iter
        self.rec: dict[str, Any] = {"ids": {}, "outputs": [], "events": []}

    def configure_model(self, runner: Any) -> None:
        self.rec["init_hash"] = state_hash(runner.unwrapped_model)  # before DDP: seed + rank

    def before_train(self, runner: Any) -> None:
        self.rec["wrapped"] = type(runner.model).__name__
        self.rec["start_hash"] = state_hash(runner.unwrapped_model)
        self.rec["sampler"] = type(runner.train_loader.sampler.base).__name__
        self.rec["batch_size"] = runner.train_loader.batch_size

    def after_step(self, runner: Any) -> None:
        ids = self.rec["ids"].setdefault(str(runner.epoch), [])
        ids.extend(int(i) for i in runner.batch["image_ids"])
        self.rec["outputs"].append(dict(runner.outputs))
        if runner.rank == self.fail_rank and runner.iter == self.fail_iter:
            raise RuntimeError(f"probe failure on rank {runner.rank}")

    def after_train(self, runner: Any) -> None:
        self.rec["end_hash"] = state_hash(runner.unwrapped_model)
        self.rec["metrics"] = {k: v for k, v in runner.metrics.items() if isinstance(v, float)}

    def on_exception(self, runner: Any, exc: BaseException) -> None:
        self.rec["events"].append(f"on_exception: {type(exc).__name__}: {exc}")

    def after_run(self, runner: Any) -> None:
        self.rec["events"].append("after_run")
        self.rec["rank"], self.rec["world_size"] = runner.rank, runner.world_size
        self.rec["pg_alive"] = torch.distributed.is_initialized()  # cleanup() comes after after_run
        path = Path(runner.work_dir) / f"probe_rank{runner.rank}.json"
        path.write_text(json.dumps(self.rec))
