"""The unlabeled stream: weak and strong views of the same images, deterministic, resumable."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from detreg.data.unlabeled_stream import StreamSampler, UnlabeledStream
from detreg.registry import DATASETS


def _dataset(tiny_data: Path, strong: bool = True):
    cfg = {
        "type": "UnlabeledDataset",
        "img_path": str(tiny_data.parent / "images" / "train"),
        "transforms": [{"type": "RandomFlip"}],
    }
    if strong:
        cfg["strong_transforms"] = [
            {"type": "ColorJitter", "prob": 1.0},
            {"type": "GaussianBlur", "prob": 0.5},
            {"type": "RandomGrayscale", "prob": 0.2},
            {"type": "RandomErasing", "prob": 1.0},
        ]
    return DATASETS.build(cfg, "data.unlabeled", context={"img_size": 64, "seed": 0})


def test_batches_hold_a_weak_and_a_differently_augmented_strong_view_of_the_same_images(
    tiny_data: Path,
) -> None:
    ds = _dataset(tiny_data)
    batch = UnlabeledStream(ds, batch_size=4, seed=3).next()
    assert batch["img"].shape == batch["img_strong"].shape == (4, 3, 64, 64)
    assert batch["targets"].shape == (0, 6)
    for i in range(4):
        assert not torch.equal(batch["img"][i], batch["img_strong"][i])  # strong: its own augmentation
    # the same image: the flip is shared (the strong view starts from the weak one), so the
    # views agree far better with each other than with another image's weak view
    weak, strong = batch["img"].float(), batch["img_strong"].float()
    same = (weak - strong).abs().mean((1, 2, 3))
    other = (weak - strong.roll(1, 0)).abs().mean((1, 2, 3))
    assert bool((same < other).all()), (same, other)
    # without strong transforms the batch has the weak view alone
    assert "img_strong" not in UnlabeledStream(_dataset(tiny_data, strong=False), batch_size=2).next()


def test_resumed_stream_draws_the_same_batches_and_workers_do_not_matter(tiny_data: Path) -> None:
    ds = _dataset(tiny_data)
    full = UnlabeledStream(ds, batch_size=5, seed=1)
    batches = [full.next() for _ in range(6)]  # 30 samples: crosses two passes of 12 images
    assert full.state_dict() == {"drawn": 6}
    resumed = UnlabeledStream(ds, batch_size=5, seed=1)
    resumed.load_state_dict({"drawn": 4})
    for want in batches[4:]:
        got = resumed.next()
        assert got["paths"] == want["paths"]
        assert torch.equal(got["img"], want["img"]) and torch.equal(got["img_strong"], want["img_strong"])
    with_workers = UnlabeledStream(ds, batch_size=5, seed=1, workers=2)
    with_workers.load_state_dict({"drawn": 5})
    got = with_workers.next()
    with_workers.close()
    assert got["paths"] == batches[5]["paths"] and torch.equal(got["img_strong"], batches[5]["img_strong"])
    # each pass visits every image once, in a new order
    paths = [p for b in batches for p in b["paths"]]
    assert sorted(paths[:12]) == sorted(set(paths)) and paths[:12] != paths[12:24]


@pytest.mark.parametrize("n", [12, 13])
def test_ranks_split_each_pass(n: int) -> None:
    shares = [StreamSampler(n, seed=0, rank=r, world=2, start=0, disabled=()).share(0) for r in range(2)]
    assert len(shares[0]) == len(shares[1]) == -(-n // 2)
    assert set(shares[0]) | set(shares[1]) == set(range(n))
    if n % 2 == 0:
        assert not set(shares[0]) & set(shares[1])
