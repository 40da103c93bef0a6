"""The transform interface: ``transform(sample, ctx) -> sample``.

A transform is any callable (registered in ``TRANSFORMS``) that takes a *sample* dict and
a :class:`TransformContext` and returns a sample (the same dict or a new one; it must not
modify arrays it did not create in place, so cached images stay intact).

Sample keys (all transforms keep them consistent)::

    img         np.uint8 [H, W, 3], RGB
    boxes       np.float32 [n, 4], xyxy in pixels of ``img`` (pixel i covers [i, i+1))
    cls         np.float32 [n], contiguous class indices
    path        str;  image_id  int;  index  int (dataset index)
    ori_shape   (h, w) of the file on disk
    ratio_pad   ((ratio_h, ratio_w), (pad_w, pad_h)): img pixel = original pixel * ratio + pad
                (kept exact by Resize, Letterbox and scale/translate-only affines; random
                geometric training transforms leave it approximate)
    mosaic      bool, set by Mosaic when it built this sample;  mixup  bool, set by MixUp

The context gives everything random or cross-sample a transform may need:

* ``ctx.rng``: a ``numpy.random.Generator`` derived from ``(seed, epoch, index)``. It is the
  only source of randomness a transform may use (never ``np.random``/``random``/torch
  global state), which makes a sample a pure function of ``(seed, epoch, index)``: equal
  across worker counts, processes and resumed runs.
* ``ctx.img_size`` (the dataset's nominal size) and ``ctx.shape`` (the ``(h, w)`` this
  sample must end with: square ``img_size`` or its rect batch shape).
* ``ctx.num_samples``, ``ctx.load(index)``: another sample as loaded from disk/cache (long
  side resized to ``img_size``), for Mosaic; ``ctx.sample(index, until=self)``: another
  sample run through the transforms before ``self`` with a child rng, for MixUp.
* ``ctx.epoch``, ``ctx.index``.

Transforms are switched off by registered type name (``dataset.disable_transforms``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Sample = dict[str, Any]


@dataclass
class TransformContext:
    """Per-sample context handed to every transform (see the module docstring)."""

    rng: np.random.Generator
    img_size: int
    shape: tuple[int, int]
    epoch: int = 0
    index: int = 0
    num_samples: int = 1
    loader: Callable[[int], Sample] | None = None
    runner: Callable[[int, Any, TransformContext], Sample] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def load(self, index: int) -> Sample:
        """Sample ``index`` as loaded (before any transform)."""
        if self.loader is None:
            raise RuntimeError("this context cannot load other samples")
        return self.loader(index)

    def child(self, index: int) -> TransformContext:
        """A context for another sample, with an rng drawn from this one."""
        seed = int(self.rng.integers(0, 2**63 - 1))
        return TransformContext(
            rng=np.random.default_rng(seed),
            img_size=self.img_size,
            shape=self.shape,
            epoch=self.epoch,
            index=index,
            num_samples=self.num_samples,
            loader=self.loader,
            runner=self.runner,
            extra=self.extra,
        )

    def sample(self, index: int, until: Any) -> Sample:
        """Sample ``index`` run through the enabled transforms that come before ``until``."""
        if self.runner is None:
            return self.load(index)
        return self.runner(index, until, self.child(index))


class Transform:
    """Optional base class: stores ``prob`` and gives a readable ``repr``."""

    def __call__(self, sample: Sample, ctx: TransformContext) -> Sample:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def transform_name(t: Any) -> str:
    """The name used to switch a transform off (its class name, or ``name`` attribute)."""
    return getattr(t, "name", None) or type(t).__name__


def size_of(img_size: int | None, ctx: TransformContext) -> int:
    """The square size a transform works at: its own ``img_size`` or the dataset's."""
    return int(img_size or ctx.img_size)


def target_shape(img_size: int | None, ctx: TransformContext) -> tuple[int, int]:
    """Output ``(h, w)``: the context's shape unless the transform sets its own size."""
    if img_size and tuple(ctx.shape) == (ctx.img_size, ctx.img_size):
        return (int(img_size), int(img_size))
    return tuple(ctx.shape)  # type: ignore[return-value]


def standalone_context(
    img_size: int, seed: int | list[int] = 0, shape: tuple[int, int] | None = None
) -> TransformContext:
    """A context for using transforms outside a dataset (tests, notebooks)."""
    return TransformContext(
        rng=np.random.default_rng(seed), img_size=img_size, shape=shape or (img_size,) * 2
    )
