"""torch.distributed helpers for runs started by ``torchrun`` (no home-made launcher).

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``; :func:`setup` joins the group they describe (NCCL for a CUDA device, Gloo
otherwise). Everything here is a no-op in a single process, so callers need no ``if``.
"""

from __future__ import annotations

import datetime
import logging
import os
from typing import Any

import torch
import torch.distributed as tdist

log = logging.getLogger("detreg")

#: Seconds a collective (barrier, all-reduce, DDP bucket) waits for the other ranks before
#: failing; override with the ``DETREG_DIST_TIMEOUT`` environment variable. It must cover
#: the longest thing rank 0 does alone while the others wait (evaluation, saving).
DEFAULT_TIMEOUT_S = 1800

_owned = False  # True when setup() created the process group (so cleanup() may destroy it)


def is_dist() -> bool:
    """True when a process group of more than one process is active."""
    return tdist.is_available() and tdist.is_initialized() and tdist.get_world_size() > 1


def env_local_rank() -> int:
    """``LOCAL_RANK`` as set by ``torchrun`` when ``WORLD_SIZE > 1``, else -1."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return -1
    return int(os.environ.get("LOCAL_RANK", "0"))


def timeout() -> datetime.timedelta:
    """The collective timeout (``DETREG_DIST_TIMEOUT`` seconds, default 30 min)."""
    return datetime.timedelta(seconds=float(os.environ.get("DETREG_DIST_TIMEOUT", DEFAULT_TIMEOUT_S)))


def setup(device: torch.device | str | None = None) -> tuple[int, int, int]:
    """Join the process group when ``torchrun`` started us; return (rank, world, local rank).

    NCCL when ``device`` is a CUDA device, Gloo otherwise. Without ``WORLD_SIZE > 1`` this
    is a single process: (0, 1, -1). A group that already exists is used as is.
    """
    global _owned
    local_rank = env_local_rank()
    if not (tdist.is_available() and tdist.is_initialized()):
        if local_rank < 0:
            return 0, 1, -1
        device = torch.device(device if device is not None else "cpu")
        backend = "nccl" if device.type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(device)
        tdist.init_process_group(backend, timeout=timeout())
        _owned = True
    return tdist.get_rank(), tdist.get_world_size(), max(local_rank, 0)


def wrap_model(model: torch.nn.Module, device: torch.device, train_cfg: dict[str, Any]) -> torch.nn.Module:
    """Wrap in DDP (optionally converting BatchNorm to SyncBatchNorm) when distributed.

    DDP broadcasts rank 0's parameters and buffers when it wraps, so every replica starts
    from the same weights whatever each rank's seed.
    """
    if not is_dist():
        return model
    if train_cfg.get("sync_bn"):
        if device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        elif get_rank() == 0:
            log.warning("train.sync_bn: SyncBatchNorm needs CUDA devices; ignored on %s", device.type)
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=ids, find_unused_parameters=bool(train_cfg.get("find_unused_parameters", False))
    )


def get_rank() -> int:
    """This process's rank (0 when not distributed)."""
    return tdist.get_rank() if tdist.is_available() and tdist.is_initialized() else 0


def barrier() -> None:
    """Wait for every process (no-op when not distributed)."""
    if not is_dist():
        return
    if tdist.get_backend() == "nccl":
        tdist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        tdist.barrier()


def _comm_device() -> torch.device:
    """Where tensors for collectives must live: the current CUDA device under NCCL."""
    if tdist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def reduce_dict(values: dict[str, Any]) -> dict[str, Any]:
    """The mean over ranks of each numeric entry (one all-reduce; same keys on every rank).

    Non-numeric entries are kept as this rank has them. Not distributed: ``values`` as is.
    """
    if not is_dist() or not values:
        return values
    keys = sorted(k for k, v in values.items() if _is_number(v))
    if not keys:
        return values
    buf = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_comm_device())
    tdist.all_reduce(buf)
    buf /= tdist.get_world_size()
    out = dict(values)
    out.update(zip(keys, buf.tolist(), strict=True))
    return out


def all_true(flag: bool) -> bool:
    """True when ``flag`` is true on every rank (``flag`` itself when not distributed)."""
    if not is_dist():
        return bool(flag)
    t = torch.tensor([0 if flag else 1], dtype=torch.int32, device=_comm_device())
    tdist.all_reduce(t)
    return int(t.item()) == 0


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (pickled; for small things like paths and metrics)."""
    if not is_dist():
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=src, device=_comm_device())
    return box[0]


def cleanup() -> None:
    """Leave the process group if :func:`setup` created it."""
    global _owned
    if _owned and tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()
    _owned = False


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    return torch.is_tensor(v) and v.numel() == 1
