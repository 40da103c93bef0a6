"""Cost of decoding every image in full during the dataset scan.

    python benchmarks/scan_decode.py [--images 400] [--size 640]

Scans the same synthetic JPEG set cold (no cache) three ways in one process and prints the
seconds and the ratio to the first: header and label checks only (the scan before full
decoding), the real scan (every JPEG decoded in parallel worker processes), and the real
scan with one worker.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from unittest import mock


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--size", type=int, default=640)
    args = ap.parse_args()

    from detreg.data import scan as scan_mod
    from detreg.data.synth import make_synth_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = make_synth_dataset(Path(tmp) / "s", n_train=args.images, n_val=0, size=args.size).parent
        images = sorted(str(p) for p in (root / "images" / "train").iterdir())
        labels = [p.replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt" for p in images]

        def timed(**kw: object) -> float:
            t = time.perf_counter()
            rep = scan_mod.scan(images, labels, nc=6, cache_path=False, progress=False, **kw)
            assert rep.counts["ok"] == len(images)
            return time.perf_counter() - t

        timed()  # warm the page cache and imports
        with mock.patch.object(scan_mod, "_decode_jpegs", lambda results, workers: None):
            base = timed()
        full = timed()
        one = timed(workers=1)
    print(f"{args.images} JPEGs at {args.size}: seconds and ratio to the header-only scan")
    for name, sec in (("header only", base), ("full decode", full), ("full decode, 1 worker", one)):
        print(f"  {name:<24}{sec:8.2f} s{sec / base:8.2f}x  {args.images / sec:8.0f} images/s")


if __name__ == "__main__":
    main()
