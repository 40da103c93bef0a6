"""Run every benchmark, print their tables one after another, and write one JSON.

    python benchmarks/run_all.py                 # full settings (tens of minutes on 2 cores)
    python benchmarks/run_all.py --quick         # small settings, a few minutes
    python benchmarks/run_all.py --only nms,eval --json results.json

Each benchmark measures against a baseline in its own process (ratios), since these
machines are noisy; this script only runs them in turn and collects what they print.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (script, full arguments, quick arguments)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "model": ("model_complexity.py", [], []),
    "nms": ("nms.py", ["--repeat", "5"], ["--repeat", "2"]),
    "eval": ("eval_speed.py", [], ["--images", "100", "--repeat", "1"]),
    "data": ("data_pipeline.py", [], ["--images", "200", "--batches", "4"]),
    "scan_decode": ("scan_decode.py", [], ["--images", "100", "--size", "320"]),
    "train": (
        "train_speed.py",
        ["--models", "yolov6n,yolov6s", "--sizes", "320,640", "--steps", "8", "--warmup", "3"],
        ["--steps", "6", "--warmup", "2", "--bare-steps", "2", "--modes", "fp32,fp32-repopt"],
    ),
    "overhead": ("runner_overhead.py", [], ["--epochs", "2", "--steps", "4", "--repeats", "1"]),
    "inference": ("inference.py", [], ["--sizes", "320", "--min-time", "0.5"]),
}


def run_one(name: str, quick: bool, timeout: float) -> dict:
    """Run one benchmark script; return its output, exit code, wall time and JSON if any."""
    script, full, small = BENCHMARKS[name]
    args = list(small if quick else full)
    json_path = None
    if "--json" in (HERE / script).read_text():
        json_path = Path(tempfile.mkstemp(suffix=f"_{name}.json")[1])
        args += ["--json", str(json_path)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, str(HERE / script), *args], capture_output=True, text=True, timeout=timeout
        )
        out, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out, rc = (exc.stdout or "") if isinstance(exc.stdout, str) else "", 124
    result = {
        "script": script,
        "args": args,
        "rc": rc,
        "seconds": round(time.perf_counter() - t0, 1),
        "output": out,
    }
    if json_path is not None and json_path.exists() and json_path.stat().st_size:
        result["json"] = json.loads(json_path.read_text())
    return result


def main() -> int:
    """Run the selected benchmarks in turn and write the combined JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small settings")
    ap.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    ap.add_argument("--json", type=Path, default=Path("benchmark_results.json"))
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    results = {}
    for name in names:
        print(f"\n=== {name} ({BENCHMARKS[name][0]}) ===", flush=True)
        res = run_one(name, args.quick, args.timeout)
        print(res["output"].rstrip())
        results[name] = res
    print("\n=== summary ===")
    print(f"{'benchmark':<12}{'status':>8}{'seconds':>10}")
    for name, res in results.items():
        status = "ok" if res["rc"] == 0 else f"rc={res['rc']}"
        print(f"{name:<12}{status:>8}{res['seconds']:>10.1f}")
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {args.json}")
    return 0 if all(r["rc"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
