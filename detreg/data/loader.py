"""``build_dataloader``: a DataLoader whose sampler carries (epoch, seed, disabled transforms).

The sampler runs in the main process and yields :class:`~detreg.data.base.SampleKey`
tuples, read from the dataset when each pass starts. Worker processes therefore follow
``set_epoch`` and ``disable_transforms`` from the next pass on, also with
``persistent_workers`` (no worker restart, no private DataLoader attributes), and a
sample depends only on ``(seed, epoch, index)``, whatever ``workers`` is.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from detreg.data.base import SampleKey
from detreg.data.collate import collate

log = logging.getLogger("detreg.data")


class EpochSampler(Sampler[int]):
    """Single-process order: a permutation seeded by ``seed + epoch`` (or sequential)."""

    def __init__(self, n: int, shuffle: bool, seed: int = 0) -> None:
        self.n, self.shuffle, self.seed, self.epoch = n, shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the permutation of ``epoch``."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


class KeySampler(Sampler[SampleKey]):
    """Wraps an index sampler; yields keys stamped with the dataset's state at pass start."""

    def __init__(self, base: Any, dataset: Any, seed: int) -> None:
        self.base, self.dataset, self.seed = base, dataset, seed

    def set_epoch(self, epoch: int) -> None:
        """Forward the epoch to the index sampler."""
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __iter__(self) -> Iterator[SampleKey]:
        epoch = int(getattr(self.dataset, "epoch", 0))
        self.set_epoch(epoch)
        disabled = tuple(getattr(self.dataset, "disabled_transforms", ()))
        for i in self.base:
            yield SampleKey(int(i), epoch, self.seed, disabled)

    def __len__(self) -> int:
        return len(self.base)


def _worker_init(worker_id: int) -> None:
    """Seed global RNGs per worker (only third-party code should ever use them)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    try:
        import cv2

        cv2.setNumThreads(0)
    except ImportError:  # pragma: no cover
        pass


class DetLoader:
    """The loader the runner iterates: ``len()``, ``iter()``, ``dataset``, ``sampler``,
    ``batch_size``, ``set_epoch(epoch)`` and ``disable_transforms(names)``."""

    def __init__(self, loader: DataLoader, sampler: KeySampler) -> None:
        self.loader = loader
        self.sampler = sampler
        self.dataset = loader.dataset
        self.batch_size = loader.batch_size

    def __iter__(self) -> Iterator[dict]:
        return iter(self.loader)

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch for the shuffle order and the augmentation rng (next pass on)."""
        self.sampler.set_epoch(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def disable_transforms(self, names: Iterable[str]) -> None:
        """Switch transforms off by type name from the next pass (persistent workers too)."""
        self.dataset.disable_transforms(names)

    def enable_transforms(self, names: Iterable[str] | None = None) -> None:
        """Switch transforms back on (all when ``names`` is None) from the next pass."""
        self.dataset.enable_transforms(names)


def build_dataloader(
    dataset: Any,
    batch_size: int,
    workers: int = 8,
    shuffle: bool = True,
    seed: int = 0,
    pin_memory: bool = True,
    persistent_workers: bool = True,
    drop_last: bool = False,
    distributed: bool | None = None,
) -> DetLoader:
    """Build the loader of ``dataset`` (a detreg dataset) with the contract collate.

    ``batch_size`` is per process. ``distributed=None`` uses a DistributedSampler when
    torch.distributed is initialised. ``workers`` is capped by CPUs per process and the
    batch size. Rect datasets are never shuffled; their shapes follow ``batch_size``.
    """
    initialized = dist.is_available() and dist.is_initialized()
    world = dist.get_world_size() if initialized else 1
    if distributed is None:
        distributed = initialized
    if getattr(dataset, "rect", False):
        if shuffle:
            log.warning("rect batches need a fixed order: shuffle turned off")
        shuffle = False
        dataset.configure_rect(batch_size)
    if hasattr(dataset, "seed"):
        dataset.seed = int(seed)
    if distributed:
        base: Any = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
    else:
        base = EpochSampler(len(dataset), shuffle, seed)
    sampler = KeySampler(base, dataset, seed)
    workers = max(0, min((os.cpu_count() or 1) // max(world, 1), batch_size, workers))
    g = torch.Generator()
    g.manual_seed(seed)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=pin_memory and torch.cuda.is_available(),
        drop_last=drop_last,
        persistent_workers=persistent_workers and workers > 0,
        worker_init_fn=_worker_init,
        generator=g,
    )
    return DetLoader(loader, sampler)
