"""``UnlabeledStream``: endless batches of unlabeled images (weak and strong views) next to
the labeled loader.

A semi-supervised hook draws one batch per training step. Its only state is how many
batches were drawn: sample ``p`` of this rank is image ``perm(pass)[rank::world][offset]``
with ``pass, offset = divmod(p, per_rank)``, and its augmentation depends only on
``(seed, pass, index)`` (as for the labeled loader), so a resumed run draws exactly the
batches the interrupted one would have drawn, whatever ``workers`` is.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from detreg.data.base import SampleKey
from detreg.data.collate import collate
from detreg.data.loader import _worker_init


class StreamSampler(Sampler[SampleKey]):
    """Endless keys of one rank's share, starting at sample ``start`` of that share."""

    def __init__(
        self, n: int, seed: int, rank: int, world: int, start: int, disabled: tuple[str, ...]
    ) -> None:
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self.start = start
        self.disabled = disabled
        self.per_rank = math.ceil(n / world)

    def share(self, pass_: int) -> list[int]:
        """This rank's images of pass ``pass_`` (padded by wrapping, like DistributedSampler)."""
        g = torch.Generator()
        g.manual_seed(self.seed + pass_)
        perm = torch.randperm(self.n, generator=g).tolist()
        total = self.per_rank * self.world
        perm = (perm * math.ceil(total / self.n))[:total]
        return perm[self.rank :: self.world]

    def __iter__(self) -> Iterator[SampleKey]:
        pass_, offset = divmod(self.start, self.per_rank)
        while True:
            for index in self.share(pass_)[offset:]:
                yield SampleKey(index, pass_, self.seed, self.disabled)
            pass_, offset = pass_ + 1, 0


class UnlabeledStream:
    """Batches of ``dataset`` forever; :meth:`next` gives the next one, ``drawn`` counts them.

    Args:
        dataset: a detreg dataset (labels, if any, are ignored); an
            :class:`~detreg.data.folder.UnlabeledDataset` with ``strong_transforms`` gives
            ``img`` (weak view) and ``img_strong`` (strong view) of the same images.
        batch_size: images per batch on this rank.
        workers: loader worker processes (capped by CPUs per rank and the batch size).
        seed, rank, world_size: the shuffle seed and this process's share.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        workers: int = 0,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(dataset) == 0:
            raise ValueError("the unlabeled dataset is empty")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.workers = max(0, min((os.cpu_count() or 1) // max(world_size, 1), self.batch_size, int(workers)))
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.drawn = 0
        self._iter: Iterator[dict[str, Any]] | None = None

    def _start(self) -> Iterator[dict[str, Any]]:
        sampler = StreamSampler(
            len(self.dataset),
            self.seed,
            self.rank,
            self.world_size,
            self.drawn * self.batch_size,
            tuple(getattr(self.dataset, "disabled_transforms", ())),
        )
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.workers,
            collate_fn=collate,
            pin_memory=torch.cuda.is_available(),
            worker_init_fn=_worker_init,
        )
        return iter(loader)

    def next(self) -> dict[str, Any]:
        """The next batch (``img``, and ``img_strong`` when the dataset makes a strong view)."""
        if self._iter is None:
            self._iter = self._start()
        batch = next(self._iter)
        self.drawn += 1
        return batch

    def close(self) -> None:
        """Stop the worker processes (a later :meth:`next` starts them again where it was)."""
        self._iter = None

    def state_dict(self) -> dict[str, int]:
        """The position: batches drawn so far."""
        return {"drawn": self.drawn}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a saved position (the next batch is the one that would have come)."""
        self.drawn = int(state["drawn"])
        self.close()
