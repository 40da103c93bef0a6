"""Training throughput of YOLOv6-N on the CPU: multi-branch vs RepOpt, fp32 vs bf16, runner vs bare step.

    python benchmarks/train_speed.py [--steps 20] [--warmup 4] [--threads 2] [--workers 0]
        [--modes fp32,bf16,fp32-repopt,bf16-repopt] [--repeats 1] [--bare-steps 8]
        [--profile fp32,fp32-repopt] [--profile-rows 15] [--json out.json]
        [--models yolov6n,yolov6s] [--sizes 320,640] [--device cpu|cuda]
        [--ul-python /work/ulvenv/bin/python [--ul-models yolov8n.yaml,yolov6n.yaml] [--ul-epochs 3]]

Every figure is measured in this one run, and the table gives each as a ratio to the first
row of its image size (absolute numbers on shared machines vary 2x between days): the
Ultralytics ``yolov8n`` row when ``--ul-python`` is given, else the first mode's end-to-end.

Peers (``--ul-python``: the python of a separate virtualenv with ``ultralytics``, never a
detreg dependency; see ``peer_ultralytics.py``): each ``--ul-models`` yaml is trained from
scratch in a subprocess on the same synthetic images (``BATCH * (warmup + steps)`` of them,
one epoch), same image size, batch, torch threads, Mosaic on, 0 workers, no validation, for
``--ul-epochs`` epochs; its images/s (wall clock and CPU time of that process) is the median
epoch after the first. Its rows have no bare-step figure.

Per mode, two numbers:

- **end-to-end**: ``configs/<model>.yaml`` trained from scratch through the real runner
  (``detreg.launch.prepare_config`` + ``Runner``) on the built-in synthetic data at 320 px,
  batch 16, with the YOLOv6 hook set (warmup, lr, EMA, stop-aug, checkpoint, writers without
  progress bar or TensorBoard; evaluation off), Mosaic on (the regime of 285 of YOLOv6's 300
  epochs). ``TimingHook`` timestamps ``after_step``; images/s over the steps after
  ``--warmup``, so data loading, loss, assignment, optimizer, EMA and hooks are all inside.
- **bare step**: the limit of the same model, loss and optimizer with the data already in
  memory: the runner's batches collected first, then forward (loss and assigner included),
  backward, and an optimizer step every ``accumulate`` batches (what the recipe gives the
  end-to-end run after warmup: 1 in these short runs), nothing else. ``e2e/bare`` is how
  close the runner comes to it; the rest is the data pipeline (``loader`` line: the same
  loader alone) and the hooks. ``in step`` is the same question asked inside one run: the
  share of the timed iterations' wall (CPU) time spent in the train step itself. Two runs
  measured minutes apart (runner, then bare step) differ by as much as the machine's speed
  drifts (on shared machines up to 1.4x between modes); the share does not.

Modes (``train.amp`` picks the autocast dtype through :class:`detreg.engine.step.TrainStep`):

- ``fp32`` / ``bf16``: YOLOv6-N's training structure (multi-branch RepVGG blocks), exact fp32
  or bf16 autocast (on CPUs with native bf16).
- ``fp32-repopt`` / ``bf16-repopt``: ``block: repopt`` (plain conv3x3+BN+ReLU) trained by
  ``RepOptSGD`` with scales of a freshly built hyper-search model (the scale values do not
  change the cost), as ``configs/repopt/yolov6n_repopt.yaml``.
- ``<mode>-cl`` (``fp32-cl``, ``bf16-repopt-cl``, ...): the same with ``train.channels_last:
  true`` (the model's weights in ``channels_last``: NHWC convolutions).
- ``<mode>-compile``: the same with ``train.compile: true`` (inductor). Compile time lands in
  the first step (the ``1st step`` column; recompiles for new shapes, e.g. another number of
  boxes per image past the graph break in the loss, land in later steps); the break-even step
  count is printed below the table, with images/s over the whole run, compile included. No
  bare-step figure (a second runner would compile all over again).
- ``fp32-convrelu`` / ``bf16-convrelu``: ``block: conv_relu``, the single-branch structure
  Ultralytics' ``yolov6n.yaml`` trains, with plain SGD (not YOLOv6's recipe; a reference).

``--profile fp32,fp32-repopt`` runs ``torch.profiler`` over one bare optimizer step (after
warm-up) of those modes and prints the top ops by self CPU time.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from detreg.engine.hook import Hook

REPO = Path(__file__).resolve().parents[1]
BATCH = 16
MODES: dict[str, dict[str, Any]] = {
    "fp32": {"amp": False, "block": "repvgg", "label": "RepVGG multi-branch, fp32"},
    "bf16": {"amp": True, "block": "repvgg", "label": "RepVGG multi-branch, bf16 autocast"},
    "fp32-repopt": {"amp": False, "block": "repopt", "label": "RepOpt plain blocks + RepOptSGD, fp32"},
    "bf16-repopt": {"amp": True, "block": "repopt", "label": "RepOpt plain blocks + RepOptSGD, bf16"},
    "fp32-convrelu": {
        "amp": False,
        "block": "conv_relu",
        "label": "conv_relu + SGD (Ultralytics' v6n), fp32",
    },
    "bf16-convrelu": {"amp": True, "block": "conv_relu", "label": "conv_relu + SGD (Ultralytics' v6n), bf16"},
}
for _name in ("fp32", "bf16", "fp32-repopt", "bf16-repopt"):
    MODES[f"{_name}-cl"] = {
        **MODES[_name],
        "label": MODES[_name]["label"] + ", channels_last",
        "extra": ["train.channels_last=true"],
    }
    MODES[f"{_name}-compile"] = {
        **MODES[_name],
        "label": MODES[_name]["label"] + ", torch.compile",
        "extra": ["train.compile=true"],
    }
DEFAULT_MODES = "fp32,bf16,fp32-repopt,bf16-repopt"


class TimingHook(Hook):
    """Records ``time.perf_counter()`` at every ``after_step`` (and the run's step count), and
    the wall and CPU time spent inside each call of the train step (``in_step``): the share of
    an iteration the step takes, measured in the same iterations, does not move with the
    machine's speed the way two separate runs (runner, then bare step) do."""

    priority = 99
    stamps: list[float] = []
    cpu: list[float] = []
    in_step: list[tuple[float, float]] = []
    info: dict[str, Any] = {}

    def before_train(self, runner: Any) -> None:
        """Reset the class-level record (one run per process at a time); time the train step."""
        TimingHook.stamps, TimingHook.cpu, TimingHook.in_step = [], [], []
        TimingHook.info = {"autocast": dict(runner.train_step._autocast)}
        step = runner.train_step.step

        def timed_step(r: Any, batch: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return step(r, batch)
            finally:
                TimingHook.in_step.append((time.perf_counter() - wall, time.process_time() - cpu))

        runner.train_step.step = timed_step

    def before_step(self, runner: Any) -> None:
        """The start of the first step (its time includes any torch.compile)."""
        TimingHook.info.setdefault("start", time.perf_counter())

    def after_step(self, runner: Any) -> None:
        """Timestamp the end of a step (wall clock and this process's CPU time)."""
        TimingHook.stamps.append(time.perf_counter())
        TimingHook.cpu.append(time.process_time())


def make_data(root: Path, n_train: int, size: int) -> Path:
    """The synthetic data yaml (``size``-px images) under ``root``."""
    from detreg.data.synth import make_synth_dataset

    return make_synth_dataset(root, n_train=n_train, n_val=8, size=size, seed=0)


def make_scales(model: str, path: Path) -> Path:
    """A RepOpt scales file for ``model``'s architecture (a fresh hyper-search model's)."""
    from detreg.launch import prepare_config
    from detreg.optim.repopt_scales import extract_scales, save_scales
    from detreg.registry import MODELS

    cfg = prepare_config(
        REPO / "configs" / f"{model}.yaml",
        ["model.backbone.block=hyper_search", "model.neck.block=hyper_search"],
        validate=False,
    )
    hs = MODELS.build(cfg.data["model"], "model", {"num_classes": 6})
    return save_scales(extract_scales(hs.state_dict()), path)


def reset_peak_memory(device: str) -> None:
    """Reset the peak-RSS high-water mark (Linux) and CUDA's max-allocated counter."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # not Linux, or not allowed: the peak then covers the process so far
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def peak_memory(device: str) -> dict[str, float]:
    """``{"rss_mb": peak RSS, "cuda_mb": CUDA max allocated}`` since the last reset."""
    out: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["rss_mb"] = int(line.split()[1]) / 1024
    except OSError:
        import resource

        out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.startswith("cuda"):
        out["cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def overrides_for(mode: str, args: argparse.Namespace, size: int, scales: Path | None) -> list[str]:
    """The ``key=value`` overrides of one mode's run."""
    spec = MODES[mode]
    out = [
        f"train.img_size={size}",
        f"train.batch_size={BATCH}",
        "train.epochs=1",
        f"train.workers={args.workers}",
        f"train.amp={str(spec['amp']).lower()}",
        f"train.device={args.device}",
        f"model.backbone.block={spec['block']}",
        f"model.neck.block={spec['block']}",
        "train.stop_aug_epochs=0",  # mosaic on, as in all but the last 15 of 300 epochs
        "hooks.eval=null",
        "hooks.best=null",
        "hooks.progress.bar=false",
        "hooks.tensorboard=null",
    ]
    if args.cache_ram:
        out.append("data.train.cache_ram=true")
    if spec["block"] == "repopt":
        out += ["optimizer.type=RepOptSGD", f"optimizer.scales={scales}"]
    return out + list(spec.get("extra", ()))


def run_training(
    cfg_path: Path, overrides: list[str], data_yaml: Path, work: Path, args: argparse.Namespace
) -> dict:
    """Train one epoch of ``warmup + steps`` batches; images/s over the last ``steps``."""
    from detreg.engine.runner import Runner
    from detreg.launch import prepare_config

    hook_type = f"{__name__}.TimingHook"  # '__main__.TimingHook' when run as a script
    cfg = prepare_config(cfg_path, [*overrides, f"hooks.timing={{type: {hook_type}}}"], data=data_yaml)
    runner = Runner(cfg, work_dir=work)
    reset_peak_memory(args.device)
    runner.train()
    memory = peak_memory(args.device)
    stamps, warmup = TimingHook.stamps, args.warmup
    if len(stamps) < warmup + 2:
        raise RuntimeError(f"only {len(stamps)} steps ran")
    start, cpu = TimingHook.info["start"], TimingHook.cpu
    timed = TimingHook.in_step[warmup : len(stamps)]
    return {
        # share of the timed iterations spent inside the train step (the rest: loader, hooks)
        "step_share": sum(w for w, _ in timed) / (stamps[-1] - stamps[warmup - 1]),
        "cpu_step_share": sum(c for _, c in timed) / (cpu[-1] - cpu[warmup - 1]),
        "cpu_img_s": BATCH * (len(cpu) - warmup) / (cpu[-1] - cpu[warmup - 1]),
        "img_s": BATCH * (len(stamps) - warmup) / (stamps[-1] - stamps[warmup - 1]),
        "first_step_s": stamps[0] - start,
        "img_s_with_first": BATCH * len(stamps) / (stamps[-1] - start),
        "autocast": str(TimingHook.info.get("autocast")),
        "loss": runner.outputs.get("loss"),
        **memory,
    }


def build_runner(cfg_path: Path, overrides: list[str], data_yaml: Path, work: Path) -> Any:
    """A runner with data, model (``configure_model`` done), optimizer and train step built."""
    from detreg.engine.runner import Runner
    from detreg.launch import prepare_config

    runner = Runner(prepare_config(cfg_path, overrides, data=data_yaml), work_dir=work)
    runner.build()
    return runner


def run_accumulate(runner: Any) -> int:
    """The batches per optimizer step the recipe gives this run after warmup (1 in a short run)."""
    from detreg.optim import recipe
    from detreg.optim.scaling import nominal_accumulate

    ctx, train = runner.context, runner.cfg["train"]
    nominal = recipe.nominal_batch_size(
        train.get("nominal_batch_size", "auto"), BATCH, ctx.get("epochs"), ctx.get("iters_per_epoch")
    )
    return nominal_accumulate(BATCH, nominal) if nominal else 1


def bare_step_fn(runner: Any, accumulate: int) -> Any:
    """``step(i, batch)``: forward with loss, backward, optimizer step every ``accumulate``."""
    compiled = runner.train_step.compiled  # (a compiled module has no truth value)
    model = compiled if compiled is not None else runner.model
    opt, device = runner.optimizer, runner.device
    autocast = dict(runner.train_step._autocast)
    model.train()

    def step(i: int, batch: dict) -> None:
        images = batch["img"].to(device).float().div_(255.0)
        with torch.autocast(**autocast):
            loss = model(images, batch["targets"].to(device))["loss"]
        loss.backward()
        if (i + 1) % accumulate == 0:
            opt.step()
            opt.zero_grad(set_to_none=True)

    return step


def bare_step(runner: Any, args: argparse.Namespace) -> tuple[float, float]:
    """Images per wall-clock second and per CPU second of the bare step over ``--bare-steps``
    in-memory batches (after 2 untimed)."""
    it = iter(runner.train_loader)
    batches = [next(it) for _ in range(min(4, len(runner.train_loader)))]
    step = bare_step_fn(runner, run_accumulate(runner))
    for i in range(2):
        step(i, batches[i % len(batches)])
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    sync()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(args.bare_steps):
        step(i, batches[i % len(batches)])
    sync()
    n = BATCH * args.bare_steps
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


def loader_only(runner: Any, n: int) -> tuple[float, float]:
    """Images per wall and per CPU second of the train loader alone (Mosaic pipeline, collate)."""
    it = iter(runner.train_loader)
    next(it)
    t0, c0 = time.perf_counter(), time.process_time()
    count = 0
    for _ in range(n):
        try:
            count += next(it)["img"].shape[0]
        except StopIteration:
            break
    return count / (time.perf_counter() - t0), count / (time.process_time() - c0)


def profile_step(runner: Any, rows: int) -> str:
    """The top ``rows`` ops by self CPU time over one optimizer step's bare steps (2 batches at least)."""
    from torch.profiler import ProfilerActivity, profile

    acc = run_accumulate(runner)
    n = max(acc, 2)
    it = iter(runner.train_loader)
    batches = [next(it) for _ in range(min(n, len(runner.train_loader)))]
    step = bare_step_fn(runner, acc)
    for i in range(n):  # warm-up
        step(i, batches[i % len(batches)])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(n):
            step(i, batches[i % len(batches)])
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=40)


def measure(
    args: argparse.Namespace, data_yaml: Path, work: Path, mode: str, model: str, size: int, scales: Path
) -> dict:
    """Median end-to-end and bare-step images/s of ``model`` at ``size`` in ``mode``."""
    cfg_path = REPO / "configs" / f"{model}.yaml"
    overrides = overrides_for(mode, args, size, scales)
    runs, bare = [], []
    profile_table = None
    for r in range(args.repeats):
        runs.append(run_training(cfg_path, overrides, data_yaml, work / f"run{r}", args))
        if mode.endswith("-compile"):  # a second runner would compile all over again (minutes)
            bare.append((math.nan, math.nan))
        else:
            runner = build_runner(cfg_path, overrides, data_yaml, work / f"bare{r}")
            bare.append(bare_step(runner, args))
            if r == 0 and mode in args.profile.split(","):
                profile_table = profile_step(runner, args.profile_rows)
            del runner
        print(
            f"  {model}@{size} {mode} run {r + 1}: {runs[-1]['img_s']:.1f} img/s end-to-end, "
            f"bare step {bare[-1][0]:.1f} img/s; per CPU-second {runs[-1]['cpu_img_s']:.2f} and "
            f"{bare[-1][1]:.2f}; in the step {runs[-1]['step_share']:.0%} of the wall time, "
            f"{runs[-1]['cpu_step_share']:.0%} of the CPU time ({runs[-1]['autocast']})",
            file=sys.stderr,
        )
    e2e = statistics.median(x["img_s"] for x in runs)
    b = statistics.median(x[0] for x in bare)
    e2e_cpu = statistics.median(x["cpu_img_s"] for x in runs)
    b_cpu = statistics.median(x[1] for x in bare)
    return {
        "label": MODES[mode]["label"],
        "img_s": e2e,
        "bare_img_s": b,
        "e2e_over_bare": e2e / b,
        "cpu_img_s": e2e_cpu,
        "bare_cpu_img_s": b_cpu,
        "cpu_e2e_over_bare": e2e_cpu / b_cpu,
        "step_share": statistics.median(x["step_share"] for x in runs),
        "cpu_step_share": statistics.median(x["cpu_step_share"] for x in runs),
        "first_step_s": statistics.median(x["first_step_s"] for x in runs),
        "img_s_with_first": statistics.median(x["img_s_with_first"] for x in runs),
        "rss_mb": max(x["rss_mb"] for x in runs),
        **({"cuda_mb": max(x["cuda_mb"] for x in runs)} if "cuda_mb" in runs[0] else {}),
        "runs": runs,
        "bare_runs": bare,
        "profile": profile_table,
    }


def measure_peers(args: argparse.Namespace, data_yaml: Path, size: int, tmp: Path) -> dict[str, dict]:
    """``{"ultralytics@size/model": row}`` for each ``--ul-models`` entry (see peer_ultralytics.py)."""
    from peer_ultralytics import run_ultralytics

    rows = {}
    for name in (m.strip() for m in args.ul_models.split(",") if m.strip()):
        row = run_ultralytics(args.ul_python, name, data_yaml, args.ul_epochs, size, BATCH, args.threads, tmp)
        row["peer"] = True
        rows[f"ultralytics@{size}/{name.removesuffix('.yaml')}"] = row
        print(
            f"  {name}@{size}: {row['img_s']:.1f} img/s, per CPU-second {row['cpu_img_s']:.2f} "
            f"(epochs {', '.join(f'{t:.1f}' for t in row['epoch_wall_s'])} s)",
            file=sys.stderr,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20, help="timed steps per end-to-end run")
    ap.add_argument("--warmup", type=int, default=4, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0, help="data loader workers (0 is fastest on 2 cores)")
    ap.add_argument(
        "--cache-ram", action="store_true", help="keep the decoded training images in memory (cache_ram)"
    )
    ap.add_argument("--modes", default=DEFAULT_MODES, help=f"comma list of {', '.join(MODES)}")
    ap.add_argument("--repeats", type=int, default=1, help="runs per mode (median reported)")
    ap.add_argument("--bare-steps", type=int, default=8, help="timed batches of the bare step")
    ap.add_argument("--profile", default="", help="modes to profile (top ops of one bare step)")
    ap.add_argument("--profile-rows", type=int, default=15)
    ap.add_argument("--models", default="yolov6n", help="configs to train, e.g. yolov6n,yolov6s")
    ap.add_argument("--sizes", default="320", help="image sizes, e.g. 320,640")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (AMP = fp16 autocast there)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--ul-python", help="python of a virtualenv with ultralytics: adds its rows (peers)")
    ap.add_argument("--ul-models", default="yolov8n.yaml,yolov6n.yaml", help="Ultralytics model yamls")
    ap.add_argument("--ul-epochs", type=int, default=3, help="Ultralytics epochs (the first is left out)")
    args = ap.parse_args(argv)
    if args.ul_python and args.ul_epochs < 2:
        ap.error("--ul-epochs must be at least 2 (the first epoch is left out)")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        ap.error(f"unknown modes {unknown}; choose from {list(MODES)}")
    torch.set_num_threads(args.threads)
    logging.getLogger("detreg").setLevel(logging.WARNING)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    results: dict[str, Any] = {
        "threads": args.threads,
        "workers": args.workers,
        "cache_ram": args.cache_ram,
        "batch": BATCH,
        "device": args.device,
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "runs": {},
        "loader_img_s": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            data_yaml = make_data(Path(tmp) / f"data{size}", BATCH * (args.warmup + args.steps), size)
            if args.ul_python:
                results["runs"].update(measure_peers(args, data_yaml, size, Path(tmp) / f"ul{size}"))
            for model in models:
                scales = make_scales(model, Path(tmp) / f"{model}_scales.pt")
                for mode in modes:
                    key = f"{model}@{size}/{mode}"
                    results["runs"][key] = measure(
                        args, data_yaml, Path(tmp) / key.replace("/", "_"), mode, model, size, scales
                    )
                runner = build_runner(
                    REPO / "configs" / f"{model}.yaml",
                    overrides_for(modes[0], args, size, scales),
                    data_yaml,
                    Path(tmp) / "loader",
                )
                results["loader_img_s"][f"{model}@{size}"] = loader_only(runner, 8)
    results["load_after"] = os.getloadavg()
    print_table(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def print_table(results: dict[str, Any], args: argparse.Namespace) -> None:
    """The table: end-to-end and bare-step images/s, each as a ratio to the first row's end-to-end."""
    load = results["load_before"]
    print(
        f"\nTraining throughput, {args.device}, {args.threads} thread(s), batch {BATCH}, {args.workers} "
        f"workers{', cache_ram' if args.cache_ram else ''}, median of {args.repeats}; "
        f"load average before {load[0]:.1f}, "
        f"after {results['load_after'][0]:.1f} on {results['cpus']} CPUs"
    )
    print(
        "Images per second of wall clock, and per second of this process's CPU time (what a core "
        "gives when it is not shared; the figure to compare on a loaded machine with --threads 1); "
        "ratios to the first row of each image size"
    )
    keys = (
        ("wall", "img_s", "bare_img_s", "step_share"),
        ("CPU", "cpu_img_s", "bare_cpu_img_s", "cpu_step_share"),
    )
    for unit, e2e_key, bare_key, share_key in keys:
        head = f"{'e2e img/s':>9} {'ratio':>6} {'bare img/s':>10} {'ratio':>6} {'e2e/bare':>8} {'in step':>7}"
        print(f"\n{'what (' + unit + ' time)':<72} {head} {'RSS':>7} {'1st step':>8}")
        base: dict[str, float] = {}  # per image size: the first row's figure (the peer's when given)
        for key, r in results["runs"].items():
            where = key.split("/")[0]
            ref = base.setdefault(where.split("@")[1], r[e2e_key])
            label = f"{where} {r['label']}"
            if r.get("peer"):
                print(f"{label:<72} {r[e2e_key]:9.2f} {r[e2e_key] / ref:6.2f} {'-':>10} {'-':>6} {'-':>8}")
                continue
            b = r[bare_key]
            bare = (
                f"{b:10.2f} {b / ref:6.2f} {r[e2e_key] / b:8.2f}"
                if b == b
                else f"{'-':>10} {'-':>6} {'-':>8}"
            )
            print(
                f"{label:<72} {r[e2e_key]:9.2f} {r[e2e_key] / ref:6.2f} {bare} {r[share_key]:7.0%} "
                f"{r['rss_mb']:6.0f}M {r['first_step_s']:7.1f}s"
            )
    runs = results["runs"]
    for key, r in runs.items():
        plain = runs.get(key.removesuffix("-compile"))
        if key.endswith("-compile") and plain is not None:
            extra = r["first_step_s"] - plain["first_step_s"]
            gain = BATCH / plain["img_s"] - BATCH / r["img_s"]  # seconds saved per step
            even = f"pays off after {extra / gain:.0f} steps" if gain > 0 else "never pays off (not faster)"
            print(
                f"{key}: compile adds {extra:.0f}s to the first step; {gain:+.2f}s per step after: {even}; "
                f"img/s over this whole run incl. compile {r['img_s_with_first']:.1f} "
                f"vs {plain['img_s_with_first']:.1f}"
            )
    for key, (wall, cpu) in results["loader_img_s"].items():
        print(
            f"{key} loader alone (Mosaic pipeline + collate, 0 workers): {wall:.1f} img/s wall, "
            f"{cpu:.1f} per CPU-s"
        )
    for key, r in results["runs"].items():
        if r.get("profile"):
            print(f"\nTop ops of bare steps (profile_step), {key}:\n{r['profile']}")


if __name__ == "__main__":
    raise SystemExit(main())
