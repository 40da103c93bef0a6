"""torch.distributed helpers for runs started by ``torchrun`` (no home-made launcher)."""

from __future__ import annotations

import datetime
import os
from typing import Any

import torch
import torch.distributed as tdist


def setup() -> tuple[int, int, int]:
    """Join the process group when ``torchrun`` started us; return (rank, world, local rank).

    NCCL on GPU, Gloo on CPU. Without ``WORLD_SIZE > 1`` this is a single process: (0, 1, -1).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, -1
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not tdist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        tdist.init_process_group(backend, timeout=datetime.timedelta(seconds=7200))
    return tdist.get_rank(), tdist.get_world_size(), local_rank


def wrap_model(model: torch.nn.Module, device: torch.device, train_cfg: dict[str, Any]) -> torch.nn.Module:
    """Wrap in DDP (optionally converting BatchNorm to SyncBatchNorm) when distributed."""
    if not (tdist.is_available() and tdist.is_initialized()) or tdist.get_world_size() <= 1:
        return model
    if train_cfg.get("sync_bn"):
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=ids, find_unused_parameters=bool(train_cfg.get("find_unused_parameters", False))
    )


def barrier() -> None:
    """Wait for every process (no-op when not distributed)."""
    if tdist.is_available() and tdist.is_initialized():
        tdist.barrier()


def cleanup() -> None:
    """Leave the process group if we joined one."""
    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()
