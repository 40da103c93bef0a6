"""Ultralytics training throughput on the same data, run in another virtualenv (for train_speed.py).

Ultralytics is never a dependency of detreg: its python (``--ul-python``, a virtualenv with
``ultralytics==8.4.190``) runs :data:`UL_CODE` in a subprocess that trains one model from its
built-in yaml from scratch on the CPU with the same image size, batch, torch thread count,
Mosaic on (``close_mosaic=0``), ``workers=0``, no validation between epochs, SGD at lr 0.01,
and records each epoch's wall-clock and CPU time (``on_train_epoch_start`` ..
``on_train_epoch_end``: the batches, loss, optimizer and EMA; not the final validation or the
checkpoint saves). The first epoch (caches, allocators, its warmup) is left out of the median,
as ``../shared/bench/peer_speed.py`` does. ``YOLO_OFFLINE=1``: nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from pathlib import Path
from typing import Any

UL_CODE = r"""
import json, os, sys, time
a = json.loads(sys.argv[1])
os.environ["OMP_NUM_THREADS"] = str(a["threads"])
import ultralytics.utils.torch_utils as tu
tu.NUM_THREADS = a["threads"]          # what Ultralytics passes to torch.set_num_threads on the CPU
import torch, ultralytics
from ultralytics import YOLO
m = YOLO(a["model"])
wall, cpu = [], []
def start(t):
    t._t0, t._c0 = time.perf_counter(), time.process_time()
def end(t):
    wall.append(time.perf_counter() - t._t0)
    cpu.append(time.process_time() - t._c0)
m.add_callback("on_train_epoch_start", start)
m.add_callback("on_train_epoch_end", end)
m.train(data=a["data"], epochs=a["epochs"], imgsz=a["imgsz"], batch=a["batch"], seed=0, optimizer="SGD",
        lr0=0.01, close_mosaic=0, amp=False, plots=False, device="cpu", workers=0, pretrained=False,
        val=False, project=a["project"], name="run", exist_ok=True, verbose=False)
print("RESULT " + json.dumps({"wall": wall, "cpu": cpu, "n": len(m.trainer.train_loader.dataset),
                              "threads": torch.get_num_threads(), "torch": torch.__version__,
                              "ultralytics": ultralytics.__version__}))
"""


def run_ultralytics(
    python: str, model: str, data_yaml: Path, epochs: int, img_size: int, batch: int, threads: int, tmp: Path
) -> dict[str, Any]:
    """Train ``model`` (e.g. ``yolov8n.yaml``) with Ultralytics; images/s per wall and CPU second.

    Returns ``img_s`` and ``cpu_img_s`` (medians over the epochs after the first), the
    per-epoch times, and the versions. Raises RuntimeError with the subprocess's last output
    when it fails.
    """
    args = {
        "model": model,
        "data": str(Path(data_yaml).resolve()),
        "epochs": epochs,
        "imgsz": img_size,
        "batch": batch,
        "threads": threads,
        "project": str(tmp / "ul_runs"),
    }
    env = dict(
        os.environ, YOLO_OFFLINE="1", YOLO_CONFIG_DIR=str(tmp / "ul_config"), OMP_NUM_THREADS=str(threads)
    )
    env.pop("PYTHONPATH", None)  # the other virtualenv must not import this tree's packages
    proc = subprocess.run([python, "-c", UL_CODE, json.dumps(args)], capture_output=True, text=True, env=env)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError(f"ultralytics {model} failed (exit {proc.returncode}):\n{tail}")
    r = json.loads(lines[-1][len("RESULT ") :])
    wall, cpu = r["wall"][1:] or r["wall"], r["cpu"][1:] or r["cpu"]
    return {
        "label": f"{model} fp32 (ultralytics {r['ultralytics']}, torch {r['torch'].split('+')[0]})",
        "img_s": r["n"] / statistics.median(wall),
        "cpu_img_s": r["n"] / statistics.median(cpu),
        "epoch_wall_s": r["wall"],
        "epoch_cpu_s": r["cpu"],
        "images_per_epoch": r["n"],
        "threads": r["threads"],
    }
