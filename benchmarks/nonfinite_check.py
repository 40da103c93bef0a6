"""Cost of the safety checks of issue 11.3 against the work they guard.

    python benchmarks/nonfinite_check.py [--config yolov6n] [--img-size 320] [--batch-size 4]

Prints, for a YOLOv6 model on the CPU: the time of one training step (forward, loss,
backward, SGD step), of the gradient check the train step runs before each optimizer
step (one fused ``torch._foreach_norm`` over all gradients), and of the non-finite-weight
check the checkpoint writer runs before each save, next to the time of ``torch.save``
of the same checkpoint; with the ratios.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from types import SimpleNamespace

import torch


def timed(fn, repeat: int) -> float:
    """Median seconds of ``fn()`` over ``repeat`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    from detreg.engine.checkpoint import nonfinite_tensors
    from detreg.engine.step import TrainStep
    from detreg.launch import prepare_config
    from detreg.registry import MODELS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="yolov6n")
    p.add_argument("--img-size", type=int, default=320)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    torch.manual_seed(0)
    cfg = prepare_config(args.config, validate=False, need_data=False)
    model = MODELS.build(cfg.data["model"], "model", {"num_classes": 6})
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    images = torch.rand(args.batch_size, 3, args.img_size, args.img_size)
    n = 3
    targets = torch.cat(
        [
            torch.arange(args.batch_size).repeat_interleave(n)[:, None].float(),
            torch.randint(0, 6, (args.batch_size * n, 1)).float(),
            torch.rand(args.batch_size * n, 2) * 0.5 + 0.25,
            torch.rand(args.batch_size * n, 2) * 0.2 + 0.05,
        ],
        1,
    )

    def step() -> None:
        loss = model(images, targets, epoch=0)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=False)

    t_step = timed(step, args.repeat)
    model(images, targets, epoch=0)["loss"].backward()
    runner = SimpleNamespace(optimizer=opt)
    checker = TrainStep()
    t_grad = timed(lambda: checker._grads_finite(runner), args.repeat * 20)
    weights = model.state_dict()
    state = {"model": weights, "ema": {"module": weights}, "optimizer": opt.state_dict()}
    t_weights = timed(lambda: nonfinite_tensors(state), args.repeat * 4)
    t_save = timed(lambda: torch.save(state, io.BytesIO()), args.repeat)
    params = sum(p.numel() for p in model.parameters())
    print(f"{args.config}: {params / 1e6:.2f} M params, batch {args.batch_size} at {args.img_size}px, CPU")
    print(f"  train step            {t_step * 1e3:9.2f} ms")
    print(f"  gradient check        {t_grad * 1e3:9.3f} ms   {t_grad / t_step:8.2%} of a step")
    print(f"  torch.save (to RAM)   {t_save * 1e3:9.2f} ms")
    print(f"  weight check on save  {t_weights * 1e3:9.3f} ms   {t_weights / t_save:8.2%} of the save")


if __name__ == "__main__":
    main()
