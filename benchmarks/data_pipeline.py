"""Training data pipeline throughput and dataset scan time.

    python benchmarks/data_pipeline.py [--images 1000] [--batches 12] [--batch-size 16]

Builds a dataset in a temp dir (``detreg.data.synth`` images when available, copied to
``--images`` files), then prints two tables: images/s of the YOLOv6 training pipeline
(Mosaic on, RandomAffine, HSV, flips) at 640 and 320 with 0 and 2 workers, the 320 px
pipeline with the 640 px JPEGs decoded in full vs at half size (``reduced_decode``), and the
time to scan the dataset cold (no cache) vs from the cache.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def make_dataset(root: Path, n_images: int, n_unique: int = 48, size: int = 640) -> Path:
    """``root/images/train`` with ``n_images`` files (``n_unique`` distinct ones, copied)."""
    try:
        from detreg.data.synth import make_synth_dataset

        src = make_synth_dataset(root / "src", n_train=n_unique, n_val=0, size=size, seed=0).parent
        pairs = sorted((src / "images" / "train").glob("*.jpg"))
    except ImportError:
        src = root / "src"
        pairs = []
        rng = np.random.default_rng(0)
        for i in range(n_unique):
            (src / "images" / "train").mkdir(parents=True, exist_ok=True)
            (src / "labels" / "train").mkdir(parents=True, exist_ok=True)
            img = rng.integers(0, 255, (size * 3 // 4, size, 3), dtype=np.uint8)
            p = src / "images" / "train" / f"{i:06d}.jpg"
            cv2.imwrite(str(p), img)
            (src / "labels" / "train" / f"{i:06d}.txt").write_text("0 0.5 0.5 0.2 0.3\n1 0.3 0.3 0.1 0.1\n")
            pairs.append(p)
    out_img, out_lbl = root / "images" / "train", root / "labels" / "train"
    out_img.mkdir(parents=True, exist_ok=True)
    out_lbl.mkdir(parents=True, exist_ok=True)
    for i in range(n_images):
        p = pairs[i % len(pairs)]
        shutil.copyfile(p, out_img / f"{i:06d}.jpg")
        shutil.copyfile(src / "labels" / "train" / f"{p.stem}.txt", out_lbl / f"{i:06d}.txt")
    return out_img


def throughput(
    img_dir: Path, img_size: int, workers: int, batches: int, batch_size: int, reduced_decode: bool = True
) -> float:
    """Images per second of the training pipeline (first batch not timed)."""
    from detreg.data.loader import build_dataloader
    from detreg.data.pipelines import train_transforms
    from detreg.registry import DATASETS

    cfg = {"type": "YOLODataset", "img_path": str(img_dir), "transforms": train_transforms(mixup=0.1)}
    cfg["reduced_decode"] = reduced_decode
    ds = DATASETS.build(cfg, context={"img_size": img_size, "seed": 0})
    loader = build_dataloader(ds, batch_size=batch_size, workers=workers, seed=0, persistent_workers=False)
    it = iter(loader)
    next(it)
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        n += len(next(it)["paths"])
    dt = time.perf_counter() - t0
    del it
    return n / dt


def scan_times(img_dir: Path) -> tuple[float, float, int]:
    """Seconds to scan cold (cache removed) and cached, and the image count."""
    from detreg.data.io import img2label_path, list_images
    from detreg.data.scan import default_cache_path, scan

    images = list_images(str(img_dir))
    labels = [img2label_path(p) for p in images]
    cache = default_cache_path(labels, images)
    if cache and Path(cache).exists():
        Path(cache).unlink()
    t0 = time.perf_counter()
    cold = scan(images, labels, nc=None, progress=False)
    t1 = time.perf_counter()
    warm = scan(images, labels, nc=None, progress=False)
    t2 = time.perf_counter()
    assert not cold.from_cache and warm.from_cache
    return t1 - t0, t2 - t1, len(images)


def main() -> None:
    """Run both benchmarks and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--batches", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    import os

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        img_dir = make_dataset(Path(tmp), args.images)
        print(f"dataset: {args.images} images in {time.perf_counter() - t0:.1f} s ({os.cpu_count()} CPUs)\n")
        cold, warm, n = scan_times(img_dir)
        print(f"{'scan':<10}{'images':>8}{'seconds':>10}{'images/s':>12}")
        print(f"{'cold':<10}{n:>8}{cold:>10.2f}{n / cold:>12.0f}")
        print(f"{'cached':<10}{n:>8}{warm:>10.3f}{n / warm:>12.0f}\n")
        print(f"{'img_size':<10}{'workers':>8}{'batch':>7}{'images/s':>12}   (mosaic 1.0, mixup 0.1)")
        for size in (640, 320):
            for workers in (0, 2):
                ips = throughput(img_dir, size, workers, args.batches, args.batch_size)
                print(f"{size:<10}{workers:>8}{args.batch_size:>7}{ips:>12.1f}")
        # the 640 px JPEGs at 320: decoded at half size (reduced_decode, the default) vs in full
        full = throughput(img_dir, 320, 0, args.batches, args.batch_size, reduced_decode=False)
        half = throughput(img_dir, 320, 0, args.batches, args.batch_size)
        print(
            f"\n320 px, 0 workers: full JPEG decode {full:.1f} images/s, "
            f"reduced decode {half:.1f} ({half / full:.2f}x)"
        )


if __name__ == "__main__":
    main()
