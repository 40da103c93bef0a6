"""The train step: forward, loss, backward, AMP, gradient accumulation, optimizer step.

A small swappable object (registered in ``STEPS``, chosen by ``train.step``). The runner
calls ``start_epoch(runner)`` at each epoch start and ``step(runner, batch)`` per batch;
the step fires ``after_forward`` (with ``runner.step_record`` set, inside autocast: hooks
add loss terms there), ``after_backward`` and, only when the optimizer really stepped,
``after_optimizer_step`` through ``runner.call``. It owns the GradScaler and saves its
state in its own ``state_dict`` (``checkpoint["train_step"]``).
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
from typing import TYPE_CHECKING, Any, Literal

import torch

from detreg.engine import dist
from detreg.engine.step_record import StepRecord
from detreg.errors import DetregError
from detreg.registry import STEPS

if TYPE_CHECKING:
    from detreg.engine.runner import Runner


@functools.lru_cache(maxsize=1)
def cpu_bf16_fast() -> bool:
    """True when this CPU runs bf16 convolutions natively (AVX512-BF16 or AMX via oneDNN).

    Needs oneDNN with bf16 support and, on Linux, the ``avx512_bf16`` or ``amx_bf16`` CPU
    flag (oneDNN also "supports" bf16 on plain AVX512 CPUs by emulation, which is slower
    than fp32). Other systems: False (fp32), unless forced with ``amp_dtype: bfloat16``.
    """
    try:
        if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
            return False
    except (AttributeError, RuntimeError):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        return False
    return False


@STEPS.register()
class TrainStep:
    """YOLOv6-style step: optimizer steps when ``iter - last_opt_step >= runner.accumulate``.

    Args:
        grad_clip: clip the gradient norm to this value before stepping (off when None).
        max_nonfinite: stop with a clear message after this many skipped steps in a row. A
            step is skipped (and counted in ``runner.outputs['skipped']``) when its loss is
            not finite, or, at an optimizer step, when a gradient is not finite (checked
            before the optimizer applies it; fp16 AMP leaves that to its GradScaler).
        amp_dtype: autocast dtype when ``train.amp`` is on: 'float16' (CUDA default) or
            'bfloat16'. On the CPU only bfloat16 is used: ``amp: true`` (amp_dtype unset)
            means bf16 autocast where the CPU computes bf16 natively (see
            :func:`cpu_bf16_fast`) and exact fp32 elsewhere; ``amp_dtype: bfloat16`` forces
            bf16; ``amp_dtype: float16`` means fp32 on the CPU. ``amp: false`` is always fp32.
        compile_backend: the ``torch.compile`` backend used when ``train.compile`` is true
            ('inductor', or 'eager'/'aot_eager' to check a model compiles without code
            generation). The step then runs the model through the compiled wrapper; the
            model itself (its state_dict, checkpoints, EMA, evaluation) is untouched. The
            first steps pay the compile time (minutes on a small CPU; see
            ``benchmarks/train_speed.py``), and a new input shape (the last, smaller batch)
            compiles again.
    """

    def __init__(
        self,
        grad_clip: float | None = None,
        max_nonfinite: int = 10,
        amp_dtype: str | None = None,
        compile_backend: Literal["inductor", "aot_eager", "eager"] = "inductor",
    ) -> None:
        if amp_dtype not in (None, "float16", "bfloat16"):
            raise ValueError(f"amp_dtype must be float16 or bfloat16, got {amp_dtype!r}")
        self.compile_backend = compile_backend
        self.compiled: Any = None  # the torch.compile wrapper of the model (train.compile)
        self.grad_clip = grad_clip
        self.max_nonfinite = max_nonfinite
        self.amp_dtype = amp_dtype
        self.last_opt_step = -1
        self.nonfinite_in_row = 0
        self.skipped = 0
        self.scaler: torch.amp.GradScaler | None = None
        self._autocast: dict[str, Any] = {"enabled": False, "device_type": "cpu"}
        self._forward_kwargs: dict[str, Any] = {}

    def setup(self, runner: Runner) -> None:
        """Pick autocast/GradScaler settings for the runner's device."""
        forward = getattr(getattr(runner, "unwrapped_model", None), "forward", None)
        try:
            accepts = forward is not None and "return_outputs" in inspect.signature(forward).parameters
        except (TypeError, ValueError):
            accepts = False
        self._forward_kwargs = {"return_outputs": True} if accepts else {}
        if runner.cfg["train"].get("compile", False):
            self.compiled = torch.compile(runner.model, backend=self.compile_backend)
            runner.logger.info(
                "train.compile: the model's forward runs through torch.compile (%s)", self.compile_backend
            )
        dev = torch.device(runner.device)
        amp = bool(runner.cfg["train"].get("amp", False))
        if dev.type == "cuda" and amp:
            dtype = torch.bfloat16 if self.amp_dtype == "bfloat16" else torch.float16
            self._autocast = {"enabled": True, "device_type": "cuda", "dtype": dtype}
            self.scaler = torch.amp.GradScaler("cuda", enabled=dtype is torch.float16)
        elif amp and (
            self.amp_dtype == "bfloat16" or (self.amp_dtype is None and dev.type == "cpu" and cpu_bf16_fast())
        ):
            self._autocast = {"enabled": True, "device_type": dev.type, "dtype": torch.bfloat16}
        else:
            self._autocast = {"enabled": False, "device_type": dev.type}
        if dev.type == "cpu" and amp:
            if self._autocast["enabled"]:
                runner.logger.info("train.amp: bfloat16 autocast on the CPU (loss in fp32)")
            else:
                runner.logger.info(
                    "train.amp: fp32 on this CPU (no native bf16 support; set "
                    "train.step.amp_dtype=bfloat16 to force bf16 autocast)"
                )

    def start_epoch(self, runner: Runner) -> None:
        """Drop partial accumulations at an epoch start (YOLOv6 does the same)."""
        runner.optimizer.zero_grad(set_to_none=True)

    def step(self, runner: Runner, batch: dict[str, Any]) -> dict[str, Any]:
        """Run one batch; return the loss dict (floats) for logging."""
        images = batch["img"].to(runner.device, non_blocking=True).float().div_(255.0)
        targets = batch["targets"].to(runner.device, non_blocking=True)
        with torch.autocast(**self._autocast):
            model = self.compiled if self.compiled is not None else runner.model
            result = model(images, targets, epoch=runner.epoch, **self._forward_kwargs)
            out, raw = result if self._forward_kwargs else (result, None)
            record = StepRecord(images, targets, raw, out)
            runner.step_record = record
            try:
                runner.call("after_forward")
            except BaseException:
                runner.step_record = None
                raise
        runner.step_record = None  # frees the outputs; the graph lives on in ``loss``
        loss = record.total_loss()
        finite = bool(torch.isfinite(loss).all())
        if runner.world_size > 1:  # all ranks skip together, or DDP's backward would hang
            finite = dist.all_true(finite)
        if not finite:
            return self._skip(runner, record.scalars())
        scaled = loss * runner.world_size if runner.world_size > 1 else loss
        if self.scaler is not None:
            self.scaler.scale(scaled).backward()
        else:
            scaled.backward()
        runner.call("after_backward")
        if runner.iter - self.last_opt_step >= runner.accumulate:
            self.last_opt_step = runner.iter
            if not self._grads_finite(runner):
                return self._skip(runner, record.scalars(), "gradient")
            self._optimizer_step(runner)
            self.nonfinite_in_row = 0
            runner.call("after_optimizer_step")
        return record.scalars()

    def _grads_finite(self, runner: Runner) -> bool:
        """One fused check that every gradient is finite (before the optimizer applies them).

        An active fp16 GradScaler already skips such steps itself (and lowers its scale),
        so it is left to do so. Under DDP the gradients were all-reduced: every rank agrees.
        """
        if self.scaler is not None and self.scaler.is_enabled():
            return True
        grads = [p.grad for g in runner.optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not grads:
            return True
        norms = torch._foreach_norm(grads)
        return bool(torch.isfinite(torch.stack([n.to(norms[0].device) for n in norms])).all())

    def _optimizer_step(self, runner: Runner) -> None:
        opt = runner.optimizer
        if self.scaler is not None:
            if self.grad_clip:
                self.scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(runner.model.parameters(), self.grad_clip)
            self.scaler.step(opt)
            self.scaler.update()
        else:
            if self.grad_clip:
                torch.nn.utils.clip_grad_norm_(runner.model.parameters(), self.grad_clip)
            opt.step()
        opt.zero_grad(set_to_none=True)

    def _skip(self, runner: Runner, out: dict[str, Any], what: str = "loss") -> dict[str, Any]:
        """Drop this step's gradients; count it; stop after ``max_nonfinite`` in a row."""
        self.nonfinite_in_row += 1
        self.skipped += 1
        runner.optimizer.zero_grad(set_to_none=True)
        if self.nonfinite_in_row >= self.max_nonfinite:
            parts = ", ".join(f"{k}={v:.4g}" for k, v in out.items())
            raise DetregError(
                f"{what} was not finite for {self.nonfinite_in_row} steps in a row (epoch {runner.epoch}, "
                f"iter {runner.iter}: {parts}); try a lower optimizer.lr, train.amp=false, "
                "train.step.grad_clip, or check the labels"
            )
        runner.logger.warning(
            "non-finite %s at iter %d, step skipped (%d in a row)", what, runner.iter, self.nonfinite_in_row
        )
        return {"loss": math.nan, "skipped": float(self.skipped)}

    def state_dict(self) -> dict[str, Any]:
        """Counters and the GradScaler state, for exact resume."""
        return {
            "last_opt_step": self.last_opt_step,
            "skipped": self.skipped,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.last_opt_step = int(state.get("last_opt_step", -1))
        self.skipped = int(state.get("skipped", 0))
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
