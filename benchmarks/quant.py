"""Int8 quantization on a demo model: PTQ and QAT mAP against float, and int8/fp32 latency.

    python benchmarks/quant.py [--threads 1] [--train 240] [--val 48] [--size 128]
        [--epochs 12] [--qat-epochs 2] [--calib-batches 8] [--latency-size 224] [--reps 10]
        [--weights best.pt --data data.yaml] [--no-qat] [--no-compile] [--work-dir DIR]

1. Trains the demo model (YOLOv6-N, ``configs/demo.yaml``) on synthetic shapes detreg draws
   itself (``--train``/``--val`` images of side ``--size``, ``--epochs``), unless
   ``--weights``/``--data`` name a trained checkpoint.
2. PTQ: ``detreg quantize --calib-batches N``: float and int8 mAP50-95 on the val set.
3. QAT: ``detreg-train configs/quant/yolov6n_qat.yaml hooks.qat.weights=best.pt`` for
   ``--qat-epochs`` (lr 1e-5, no warmup), then the int8 file's mAP.
4. Latency at ``--latency-size``, batch 1 and 16, ``--threads`` threads: ONNX Runtime fp32
   ONNX vs the QDQ int8 ONNX, and PyTorch fp32 vs int8 (both eager, and both lowered by
   Inductor, the x86 int8 kernels; ``--no-compile`` skips that). Ratios int8/fp32 are
   measured in this process against the fp32 baseline; < 1 means int8 is faster.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from bench_timing import median_seconds

REPO = Path(__file__).resolve().parents[1]


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train", type=int, default=240)
    p.add_argument("--val", type=int, default=48)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--qat-epochs", type=int, default=2)
    p.add_argument("--calib-batches", type=int, default=8)
    p.add_argument("--latency-size", type=int, default=224)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--weights", help="a trained float checkpoint (skips the demo training)")
    p.add_argument("--data", help="its data yaml")
    p.add_argument("--no-qat", action="store_true")
    p.add_argument("--no-compile", action="store_true", help="skip the Inductor-lowered PyTorch rows")
    p.add_argument("--work-dir", default="runs/bench/quant")
    return p.parse_args()


def cli(argv: list[str]) -> None:
    from detreg.cli import main

    rc = main(argv)
    if rc != 0:
        raise SystemExit(f"benchmark: `detreg {' '.join(argv)}` failed ({rc})")


def train_demo(args: argparse.Namespace, work: Path) -> tuple[Path, Path]:
    from detreg.data.synth import make_synth_dataset

    data = make_synth_dataset(work / "data", n_train=args.train, n_val=args.val, size=args.size, seed=0)
    run = work / "float"
    t0 = time.time()
    cli(
        [
            "train",
            "demo",
            "--data",
            str(data),
            "--work-dir",
            str(run),
            *common(args),
            f"train.epochs={args.epochs}",
        ]
    )
    print(f"float training: {args.epochs} epochs in {time.time() - t0:.0f} s")
    return run / "last.pt", data


def common(args: argparse.Namespace) -> list[str]:
    return [f"train.img_size={args.size}", "train.batch_size=16", "train.workers=0", "train.amp=false"]


def evaluate(weights: Path, data: Path, out: Path) -> dict[str, Any]:
    cli(["eval", "--weights", str(weights), "--data", str(data), "--work-dir", str(out), "train.workers=0"])
    return json.loads((out / "metrics.json").read_text())


def latency(args: argparse.Namespace, float_w: Path, int8_w: Path, work: Path) -> list[dict[str, Any]]:
    import onnxruntime as ort

    from detreg.apps import load_detector, resolve_config
    from detreg.apps.export import export_onnx
    from detreg.quant.onnx import register_qdq_symbolics

    def load(w: Path) -> torch.nn.Module:
        ns = argparse.Namespace(config=None, overrides=[], data=None, weights=str(w))
        return load_detector(resolve_config(ns), w)[0]

    fp32, int8 = load(float_w), load(int8_w)
    size = (args.latency_size, args.latency_size)
    register_qdq_symbolics(17)
    export_onnx(fp32, work / "fp32.onnx", size, batch=2, dynamic=True)
    export_onnx(int8, work / "int8.onnx", size, batch=2, dynamic=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = args.threads
    opts.log_severity_level = 3
    sess = {
        k: ort.InferenceSession(str(work / f"{k}.onnx"), opts, providers=["CPUExecutionProvider"])
        for k in ("fp32", "int8")
    }
    rows = []
    compiled: dict[str, Any] = {}
    if not args.no_compile:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True  # constant-fold the int8 weights into the x86 kernels
        compiled = {"fp32": torch.compile(fp32), "int8": torch.compile(int8)}
    for batch in (1, 16):
        x = torch.rand(batch, 3, *size)
        xn = x.numpy()
        t = {
            k: median_seconds(lambda s=s, xn=xn: s.run(None, {"images": xn}), args.reps, warmup=2)
            for k, s in sess.items()
        }
        rows.append({"runtime": "onnxruntime", "batch": batch, **t})
        with torch.inference_mode():
            t = {
                k: median_seconds(lambda m=m, x=x: m(x), args.reps, warmup=2)
                for k, m in (("fp32", fp32), ("int8", int8))
            }
            rows.append({"runtime": "pytorch eager", "batch": batch, **t})
            if compiled:
                t = {
                    k: median_seconds(lambda m=m, x=x: m(x), args.reps, warmup=2) for k, m in compiled.items()
                }
                rows.append({"runtime": "pytorch inductor", "batch": batch, **t})
    return rows


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    if args.weights:
        float_w, data = Path(args.weights), Path(args.data)
    else:
        float_w, data = train_demo(args, work)
    results: dict[str, Any] = {}
    t0 = time.time()
    int8_w = work / "ptq_int8.pt"
    cli(
        [
            "quantize",
            "--weights",
            str(float_w),
            "--data",
            str(data),
            "--calib-batches",
            str(args.calib_batches),
            "--out",
            str(int8_w),
            "--work-dir",
            str(work),
            "train.workers=0",
            "train.batch_size=16",
        ]
    )
    ptq = json.loads((work / "quantize.json").read_text())
    results["float"], results["ptq_int8"] = ptq["float"], ptq["int8"]
    print(f"PTQ ({args.calib_batches} calibration batches): {time.time() - t0:.0f} s")
    if not args.no_qat:
        t0 = time.time()
        qat = work / "qat"
        cli(
            [
                "train",
                "configs/quant/yolov6n_qat.yaml",
                "--data",
                str(data),
                "--work-dir",
                str(qat),
                *common(args),
                f"hooks.qat.weights={float_w}",
                f"train.epochs={args.qat_epochs}",
            ]
        )
        results["qat_int8"] = evaluate(qat / "qat_int8.pt", data, work / "qat_eval")
        print(f"QAT ({args.qat_epochs} epochs): {time.time() - t0:.0f} s")
    print(f"\n{'model':<12}{'mAP50-95':>10}{'mAP50':>10}")
    for name, m in results.items():
        print(f"{name:<12}{m.get('mAP50_95', 0.0):>10.4f}{m.get('mAP50', 0.0):>10.4f}")
    rows = latency(args, float_w, int8_w, work)
    print(f"\nlatency at {args.latency_size}px, {args.threads} thread(s), median of {args.reps} (ms)")
    print(f"{'runtime':<18}{'batch':>6}{'fp32':>10}{'int8':>10}{'int8/fp32':>11}")
    for r in rows:
        print(
            f"{r['runtime']:<18}{r['batch']:>6}{1e3 * r['fp32']:>10.1f}{1e3 * r['int8']:>10.1f}"
            f"{r['int8'] / r['fp32']:>11.2f}"
        )
    plain = {k: {m: v for m, v in r.items() if isinstance(v, float)} for k, r in results.items()}
    (work / "quant_bench.json").write_text(json.dumps({"map": plain, "latency": rows}, indent=2))


if __name__ == "__main__":
    main()
