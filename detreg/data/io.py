"""File-level helpers: list images from a source, map image paths to label paths, read images."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from detreg.errors import DetregError

IMG_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".dng", ".mpo", ".pfm")


def is_image(path: str | os.PathLike) -> bool:
    """True when the file name has an image extension."""
    return str(path).lower().endswith(IMG_EXTS)


def list_images(
    source: str | os.PathLike | Sequence[str | os.PathLike], root: str | None = None
) -> list[str]:
    """Image paths from a directory (recursive, sorted), a ``.txt`` list file (one path a
    line, relative paths taken from the list file's folder), a single image, or a list of
    any of these. Relative sources are resolved against ``root``."""
    if isinstance(source, (list, tuple)):
        out: list[str] = []
        for s in source:
            out += list_images(s, root)
        return out
    p = Path(os.path.expanduser(str(source)))
    if not p.is_absolute() and root is not None:
        p = Path(root) / p
    if p.is_dir():
        return sorted(str(f) for f in p.rglob("*") if f.is_file() and is_image(f))
    if p.is_file() and p.suffix.lower() == ".txt":
        out = []
        for line in p.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            f = Path(line)
            if not f.is_absolute():
                f = (p.parent / f).resolve()
            out.append(str(f))
        return out
    if p.is_file() and is_image(p):
        return [str(p)]
    raise DetregError(f"image source '{p}' does not exist (expected a folder, a .txt list or an image)")


def img2label_path(path: str) -> str:
    """The label file of an image: last ``/images/`` -> ``/labels/``, extension -> ``.txt``."""
    sep_img, sep_lbl = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    head, found, tail = path.rpartition(sep_img)
    base = head + sep_lbl + tail if found else path
    return os.path.splitext(base)[0] + ".txt"


#: libjpeg decodes a JPEG straight at 1/2, 1/4 or 1/8 of its size (DCT scaling): far cheaper
#: than a full decode followed by a downscale.
_REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
_JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")


def jpeg_reduction(path: str, long_side: int, target: int) -> int:
    """The largest JPEG decode reduction (8, 4 or 2) that keeps the long side at least ``target``.

    1 (a full decode) for other formats: OpenCV would decode them fully and then shrink
    them without filtering."""
    if not path.lower().endswith(_JPEG_SUFFIXES):
        return 1
    for factor in (8, 4, 2):
        if long_side // factor >= target:
            return factor
    return 1


def read_image(path: str, reduce: int = 1) -> np.ndarray | None:
    """Read an image as RGB ``uint8 [H, W, 3]`` (EXIF orientation applied), or None.

    ``reduce`` (2, 4 or 8; see :func:`jpeg_reduction`) decodes a JPEG at that fraction of
    its size (each side rounded up)."""
    flag = _REDUCED_FLAGS.get(reduce, cv2.IMREAD_COLOR)
    img = cv2.imread(path, flag)
    if img is None:
        try:  # cv2.imread cannot open some paths (non-ASCII on some builds); try bytes
            data = np.fromfile(path, dtype=np.uint8)
            img = cv2.imdecode(data, flag) if data.size else None
        except OSError:
            return None
    if img is None:
        return None
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
