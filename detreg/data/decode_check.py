"""Decode JPEGs in full and report what libjpeg says about them.

A JPEG whose entropy-coded body is scrambled decodes "successfully" into garbage: libjpeg
only prints ``Corrupt JPEG data: ...`` on the C ``stderr``, and neither PIL nor OpenCV
raises. Each file is therefore decoded in a worker process whose file descriptor 2 points
at a private temporary file; the bytes written there while decoding one image are that
image's warnings. Processes (not threads) keep the capture per file and decode in
parallel.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

JPEG_MAGIC = b"\xff\xd8"


def _capture_stderr() -> None:
    """Worker initializer: fd 2 -> an anonymous temporary file."""
    fd, path = tempfile.mkstemp(prefix="detreg-decode-")
    os.unlink(path)
    os.dup2(fd, 2)
    os.close(fd)


def decode_warnings(path: str) -> str:
    """What the decoder wrote while decoding ``path`` ('' for a clean JPEG or a non-JPEG file);
    'does not decode' when nothing came out. Run inside a capturing worker."""
    import cv2

    try:
        with open(path, "rb") as f:
            if f.read(2) != JPEG_MAGIC:
                return ""
    except OSError as exc:
        return f"does not decode ({exc.strerror})"
    start = os.lseek(2, 0, os.SEEK_END)
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    end = os.lseek(2, 0, os.SEEK_END)
    said = os.pread(2, end - start, start).decode(errors="replace").strip() if end > start else ""
    if img is None:
        return f"does not decode{': ' + said if said else ''}"
    return said


def jpeg_warnings(paths: Sequence[str], workers: int | None = None) -> list[str]:
    """:func:`decode_warnings` of every path, decoded in parallel worker processes."""
    if not paths:
        return []
    workers = max(1, min(workers or os.cpu_count() or 1, len(paths) // 8 + 1))
    # fork: the workers start in milliseconds with cv2 already imported (they only decode)
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_capture_stderr) as pool:
        return list(pool.map(decode_warnings, paths, chunksize=max(1, len(paths) // (4 * workers))))
