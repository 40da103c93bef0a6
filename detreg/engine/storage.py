"""``EpochStorage``: the one record of an epoch's step outputs that every writer reads.

The runner opens a fresh storage at each epoch start (``runner.storage``), puts each step's
outputs there (the loss dict, after the mean over ranks), the learning rates and the step
time, and the validation metrics with their duration. Writers (progress, metrics file,
TensorBoard) only read it, so none of them recomputes a mean or re-runs the model, and a
scalar any hook puts there (``runner.storage.put_scalar("kd_cls", v)``) reaches every
output with no writer knowing its name. Like detectron2's ``EventStorage``, but per epoch.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

#: Step-output key that counts skipped (non-finite) steps: summed over the epoch, not averaged.
SKIPPED = "skipped"


def as_float(value: Any) -> float | None:
    """``value`` as a float if it is a real number (or a one-element tensor/array), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (torch.Tensor, np.ndarray)):
        numel = value.numel() if isinstance(value, torch.Tensor) else int(value.size)
        if numel == 1:
            try:
                return float(value.item())
            except (TypeError, ValueError, RuntimeError):
                return None
    return None


def numeric(values: Mapping[str, Any] | None) -> dict[str, float]:
    """The entries of ``values`` that are numbers, as floats."""
    out = {}
    for key, value in (values or {}).items():
        v = as_float(value)
        if v is not None:
            out[key] = v
    return out


class EpochStorage:
    """Scalars of the steps of one epoch, its learning rates, timings and validation metrics.

    Per step: :meth:`begin_step`, any number of :meth:`put_scalar` (the train step's loss
    dict, hook scalars), :meth:`end_step`. :meth:`means` are the epoch means of every
    scalar (non-finite values skipped; ``skipped`` is summed), :attr:`latest` the current
    step's scalars, :meth:`window_means` the means of the last ``n`` steps.
    :meth:`record` is the epoch's ``metrics.jsonl`` record, built once on first use.
    """

    def __init__(self, epoch: int, iteration: int = 0, steps_per_epoch: int | None = None) -> None:
        self.epoch = epoch
        self.start_iter = iteration
        self.iter = iteration
        self.steps_per_epoch = steps_per_epoch
        self.start_time = time.time()
        self.latest: dict[str, float] = {}
        self.history: list[dict[str, float]] = []
        self.lrs: list[float] = []
        self.lr_names: list[str] = []
        self.step_times: list[float] = []
        self.images_per_step = 0
        self.skipped: int | None = None
        self.val_metrics: dict[str, float] | None = None
        self.val_time: float | None = None
        self.images: list[tuple[str, Any, int]] = []
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}
        self._last_t = self.start_time
        self._record: dict[str, Any] | None = None

    # ------------------------------------------------------------------ writing
    def begin_step(self) -> None:
        """Start the scalars of a new step."""
        self.latest = {}

    def put_scalar(self, name: str, value: Any) -> None:
        """Record a scalar of the current step (a number or a one-element tensor)."""
        v = as_float(value)
        if v is None:
            raise TypeError(
                f"storage scalar '{name}' must be a number or a one-element tensor, got {value!r}"
            )
        self.latest[name] = v

    def put_scalars(self, values: Mapping[str, Any]) -> None:
        """Record every numeric entry of ``values`` (others, e.g. strings, are ignored)."""
        self.latest.update(numeric(values))

    def end_step(self, iteration: int, lrs: list[float], lr_names: list[str], images: int) -> None:
        """Close the current step: fold its scalars into the epoch means, time it."""
        now = time.time()
        self.step_times.append(now - self._last_t)
        self._last_t = now
        self.iter = iteration + 1
        self.lrs, self.lr_names, self.images_per_step = list(lrs), list(lr_names), images
        for key, v in self.latest.items():
            if key == SKIPPED:
                self.skipped = (self.skipped or 0) + int(v)
                continue
            if not math.isfinite(v):
                continue
            self._sums[key] = self._sums.get(key, 0.0) + v
            self._counts[key] = self._counts.get(key, 0) + 1
        self.history.append(dict(self.latest))

    def put_val(self, metrics: Mapping[str, Any], seconds: float) -> None:
        """Record this epoch's validation metrics (numeric ones) and how long it took."""
        self.val_metrics = numeric(metrics)
        self.val_time = seconds

    def put_image(self, tag: str, image: Any, step: int) -> None:
        """Offer an RGB ``uint8 [H, W, 3]`` picture to the writers (TensorBoard) at ``step``."""
        self.images.append((tag, image, step))

    def pop_images(self) -> list[tuple[str, Any, int]]:
        """The pictures offered since the last call (a writer takes them once)."""
        out, self.images = self.images, []
        return out

    # ------------------------------------------------------------------ reading
    @property
    def steps_done(self) -> int:
        """Steps of this epoch recorded so far."""
        return len(self.history)

    def means(self) -> dict[str, float]:
        """Epoch means of every step scalar (non-finite values skipped; not ``skipped``)."""
        return {k: self._sums[k] / self._counts[k] for k in self._sums}

    def window_means(self, n: int) -> dict[str, float]:
        """Means of the last ``n`` steps' finite scalars (not ``skipped``)."""
        out: dict[str, list[float]] = {}
        for step in self.history[-n:]:
            for key, v in step.items():
                if key != SKIPPED and math.isfinite(v):
                    out.setdefault(key, []).append(v)
        return {k: sum(vs) / len(vs) for k, vs in out.items()}

    def step_time(self, last: int = 20) -> float:
        """Mean seconds per step over the last ``last`` steps (data loading included)."""
        times = self.step_times[-last:]
        return sum(times) / len(times) if times else 0.0

    def record(self) -> dict[str, Any]:
        """The epoch's record (built on first call, then fixed; call it after evaluation).

        ``epoch`` (completed epochs), ``iter``, the mean of each step scalar, ``skipped``
        (when a step reported it), ``lr`` (per param group, as the epoch's last step used),
        ``lr_groups`` (their names, when the optimizer names them), ``time`` (seconds, the
        epoch with its evaluation) and, when this epoch evaluated, ``val_time`` and every
        numeric metric (one named like another key is written as ``val/<name>``).
        """
        if self._record is not None:
            return self._record
        rec: dict[str, Any] = {"epoch": self.epoch + 1, "iter": int(self.iter)}
        rec.update(self.means())
        if self.skipped is not None:
            rec[SKIPPED] = self.skipped
        rec["lr"] = list(self.lrs)
        if any(self.lr_names):
            rec["lr_groups"] = list(self.lr_names)
        rec["time"] = round(time.time() - self.start_time, 3)
        if self.val_metrics is not None:
            if self.val_time is not None:
                rec["val_time"] = round(self.val_time, 3)
            for key, value in self.val_metrics.items():
                rec[f"val/{key}" if key in rec else key] = value
        self._record = rec
        return rec
