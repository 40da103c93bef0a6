"""RandomChannelShuffle: a colour-only transform (boxes untouched)."""

from __future__ import annotations

from typing import Any


class RandomChannelShuffle:
    """Permute the image's colour channels with probability ``prob``.

    Follows detreg's transform interface: ``transform(sample, ctx) -> sample``, with all
    randomness drawn from ``ctx.rng``.
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        self.prob = prob

    def __call__(self, sample: dict[str, Any], ctx: Any) -> dict[str, Any]:
        if ctx.rng.random() < self.prob:
            order = ctx.rng.permutation(3)
            sample = {**sample, "img": sample["img"][..., order].copy()}
        return sample
