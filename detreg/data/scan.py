"""Parallel verification of a dataset's images and labels, with a cache beside the labels.

``scan(images, label_files, nc)`` checks every file in a thread pool (tqdm progress bar), decodes
every image in full (JPEGs in worker processes that read libjpeg's warnings, see
:mod:`detreg.data.decode_check`) and returns a :class:`ScanReport`: per-file results (bad files are
marked, never raised), a summary and the dataset-level errors (:meth:`ScanReport.errors`). The
result is cached as JSON (``<labels dir>.cache.json``) keyed by a hash of every path, size and
modification time (and ``nc``), so any change rescans.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detreg.data.checks import FileResult, apply_decoder_warning, check_file
from detreg.data.decode_check import jpeg_warnings

log = logging.getLogger("detreg.data")
CACHE_VERSION = 2


@dataclass
class ScanReport:
    """Results of a scan: ``results`` in input order, ``from_cache`` when nothing was read."""

    results: list[FileResult]
    from_cache: bool = False
    cache_path: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        c = {"images": len(self.results), "ok": 0, "missing": 0, "empty": 0, "corrupt": 0}
        for r in self.results:
            c[r.status] += 1
        c["fixed"] = sum(r.fixed for r in self.results)
        c["duplicates"] = sum(r.duplicates for r in self.results)
        c["boxes"] = sum(len(r.labels) for r in self.results)
        self.counts = c

    @property
    def usable(self) -> list[FileResult]:
        """Results of the images that can be used."""
        return [r for r in self.results if r.usable]

    def summary(self) -> str:
        """One line: ``N images: N ok, N missing labels, N empty, N corrupt, N fixed``."""
        c = self.counts
        src = " (from cache)" if self.from_cache else ""
        return (
            f"{c['images']} images{src}: {c['ok']} ok, {c['missing']} missing labels, {c['empty']} empty, "
            f"{c['corrupt']} corrupt (skipped), {c['fixed']} fixed "
            f"({c['duplicates']} duplicate rows dropped); {c['boxes']} boxes"
        )

    def problems(self, missing: bool = False) -> list[str]:
        """One line per file that was skipped or repaired (and, with ``missing``, per image
        without a label file)."""
        out = []
        for r in self.results:
            if r.messages:
                tag = "skipped" if r.status == "corrupt" else "fixed"
                out.append(f"{tag}: {r.path}: {'; '.join(r.messages)}")
            elif missing and r.status == "missing":
                out.append(f"no labels: {r.path}: no label file {r.label_path} (trained as background)")
        return out

    def text(self, missing: bool = True) -> str:
        """The summary followed by the per-file lines."""
        return "\n".join([self.summary(), *self.problems(missing)])

    def class_ids(self) -> list[int]:
        """Every class id the label files use (those beyond ``nc`` included)."""
        ids = {int(c) for r in self.results for c in r.labels[:, 0]}
        return sorted(ids | {c for r in self.results for c in r.rejected_classes})

    def errors(self, nc: int | None) -> list[str]:
        """What makes the whole set unusable, one line each: class ids beyond ``nc`` (the
        data yaml's ``names`` is too short), no label file at all, no box at all."""
        out = []
        over = [r for r in self.results if nc is not None and any(c >= nc for c in r.rejected_classes)]
        if over:
            beyond = sorted({c for r in over for c in r.rejected_classes if c >= nc})
            out.append(
                f"the labels use class ids {_ids(self.class_ids())} but nc={nc} (ids {_ids(beyond)} "
                f"are out of range in {len(over)} of {len(self.results)} images, e.g. {over[0].label_path}): "
                f"give 'names' one entry per class"
            )
        labelled = [r for r in self.results if r.label_path is not None]
        if labelled and all(r.status == "missing" for r in labelled):
            out.append(
                f"none of the {len(labelled)} images has a label file (looked for "
                f"{labelled[0].label_path}, ...): labels go in labels/ beside images/"
            )
        elif labelled and not over and self.counts["boxes"] == 0:
            out.append(f"no boxes: the label files of all {len(labelled)} images are empty or unusable")
        return out


def _ids(ids: Sequence[int]) -> str:
    """``0-5`` for a run of consecutive ids, else ``0, 2, 7`` (at most 12 shown)."""
    ids = sorted(ids)
    if len(ids) > 2 and ids[-1] - ids[0] == len(ids) - 1:
        return f"{ids[0]}-{ids[-1]}"
    shown = ", ".join(str(i) for i in ids[:12])
    return shown + (f", ... ({len(ids)} ids)" if len(ids) > 12 else "")


def default_cache_path(label_files: Sequence[str] | None, images: Sequence[str]) -> str | None:
    """``<first label dir>.cache.json`` (or beside the first image when there are no labels)."""
    first = (label_files[0] if label_files else None) or (images[0] if images else None)
    if first is None:
        return None
    folder = Path(first).parent
    return str(folder.parent / f"{folder.name}.cache.json")


def files_hash(images: Sequence[str], label_files: Sequence[str] | None, extra: str = "") -> str:
    """md5 of every path with its size and mtime (missing files hash as missing)."""
    h = hashlib.md5(f"v{CACHE_VERSION}|{extra}".encode())
    for group in (images, label_files or ()):
        for p in group:
            try:
                st = os.stat(p)
                h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{p}|-\n".encode())
    return h.hexdigest()


def _to_json(r: FileResult) -> list:
    return [
        r.path,
        r.label_path,
        r.shape,
        r.labels.round(6).tolist(),
        r.status,
        r.fixed,
        r.duplicates,
        r.messages,
        r.rejected_classes,
    ]


def _from_json(x: list) -> FileResult:
    path, label_path, shape, labels, status, fixed, dups, messages, rejected = x
    arr = np.asarray(labels, dtype=np.float32).reshape(-1, 5)
    shp = tuple(shape) if shape is not None else None
    return FileResult(path, label_path, shp, arr, status, fixed, dups, list(messages), list(rejected))  # type: ignore[arg-type]


def load_cache(path: str | None, key: str) -> list[FileResult] | None:
    """Results stored at ``path`` if its key matches, else None."""
    if not path or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if data.get("version") != CACHE_VERSION or data.get("hash") != key:
            return None
        return [_from_json(x) for x in data["results"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_cache(path: str | None, key: str, results: list[FileResult]) -> bool:
    """Write the cache atomically; warn (not fail) when the folder is not writable."""
    if not path:
        return False
    data = {"version": CACHE_VERSION, "hash": key, "results": [_to_json(r) for r in results]}
    try:
        fd, tmp = tempfile.mkstemp(prefix=".cache-", dir=os.path.dirname(path) or ".")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, separators=(",", ":"))
        os.replace(tmp, path)
        return True
    except OSError as exc:
        log.warning("cannot write scan cache %s (%s); the next run scans again", path, exc)
        return False


def scan(
    images: Sequence[str],
    label_files: Sequence[str] | None,
    nc: int | None,
    cache_path: str | None | bool = True,
    workers: int | None = None,
    progress: bool = True,
    desc: str = "scanning",
) -> ScanReport:
    """Check every image (and label file) in parallel; use/refresh the cache.

    ``cache_path``: True = the default place, False/None = no cache, or a path.
    """
    if cache_path is True:
        cache_path = default_cache_path(label_files, images)
    elif cache_path is False:
        cache_path = None
    key = files_hash(images, label_files, extra=f"nc={nc}")
    cached = load_cache(cache_path, key)
    if cached is not None and len(cached) == len(images):
        return ScanReport(cached, from_cache=True, cache_path=cache_path)
    labels = list(label_files) if label_files is not None else [None] * len(images)
    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        it = pool.map(check_file, images, labels, [nc] * len(images), chunksize=16)
        if progress:
            from tqdm import tqdm

            it = tqdm(it, total=len(images), desc=desc, unit="img", leave=False, disable=None)
        results = list(it)
    _decode_jpegs(results, workers)
    save_cache(cache_path, key, results)
    return ScanReport(results, from_cache=False, cache_path=cache_path)


def _decode_jpegs(results: list[FileResult], workers: int) -> None:
    """Decode every usable image's body in full (JPEGs only need it: see decode_check)."""
    todo = [r for r in results if r.status != "corrupt"]
    try:
        said = jpeg_warnings([r.path for r in todo], workers=workers)
    except (OSError, RuntimeError, AssertionError) as exc:  # no processes here (a daemon, a sandbox)
        log.warning("cannot start decode workers (%s): JPEG bodies were not decoded in full", exc)
        return
    for r, warning in zip(todo, said):
        apply_decoder_warning(r, warning)
