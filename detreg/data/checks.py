"""Checks for one image file and one YOLO label file (used by the parallel scan).

Images are decoded in full here (PIL) except JPEGs, whose decoder only warns about a
scrambled body: :mod:`detreg.data.decode_check` decodes those and reads libjpeg's warnings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps

from detreg.data.io import read_image

MIN_SIDE = 10


@dataclass
class FileResult:
    """What the scan learned about one image (and its label file)."""

    path: str
    label_path: str | None = None
    shape: tuple[int, int] | None = None  # (h, w), EXIF orientation applied
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0, 5), np.float32))  # cls cx cy w h
    status: str = "ok"  # ok | missing | empty | corrupt
    fixed: bool = False
    duplicates: int = 0
    messages: list[str] = field(default_factory=list)
    #: every class id of a label file rejected for a bad class (a usable file's are in ``labels``)
    rejected_classes: list[int] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """True when the image can be trained on (labels may be empty)."""
        return self.status != "corrupt"


def check_image(path: str) -> tuple[tuple[int, int] | None, str | None, str | None]:
    """``(shape, error, fix_note)``: an image's ``(h, w)`` or why it cannot be used."""
    try:
        if os.path.getsize(path) == 0:
            return None, "zero-byte file", None
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:  # verify() leaves the object unusable
            fmt = (im.format or "").upper()
            w, h = ImageOps.exif_transpose(im).size if _has_rotation(im) else im.size
    except FileNotFoundError:
        return None, "image file not found", None
    except Exception as exc:  # PIL raises many types for bad data
        return None, f"cannot read image header ({type(exc).__name__}: {exc})", None
    if fmt not in ("JPEG", "MPO"):  # JPEG bodies: decode_check (libjpeg only warns)
        try:
            with Image.open(path) as im:
                im.load()
        except Exception as exc:  # noqa: BLE001 - a body that does not decode, whatever the type
            return None, f"image does not decode ({type(exc).__name__}: {exc})", None
    if h < MIN_SIDE or w < MIN_SIDE:
        return None, f"image is {w}x{h} px, smaller than {MIN_SIDE} px", None
    note = None
    if fmt in ("JPEG", "MPO"):
        with open(path, "rb") as f:
            f.seek(-2, os.SEEK_END)
            if f.read() != b"\xff\xd9":
                img = read_image(path)
                if img is None or img.shape[:2] != (h, w):
                    return None, "corrupt JPEG (truncated, does not decode)", None
                note = "truncated JPEG (no end marker) decodes; kept"
    return (h, w), None, note


def _has_rotation(im: Image.Image) -> bool:
    try:
        return im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except Exception:  # broken EXIF: treat as unrotated
        return False


def check_labels(label_path: str, nc: int | None) -> tuple[np.ndarray, str, list[str], int, bool, list[int]]:
    """Parse a YOLO label file: ``(labels [n,5], status, messages, duplicates, fixed, rejected_classes)``.

    Status ``missing``/``empty`` keep the image as background; ``corrupt`` (wrong column count,
    non-numbers, NaN/inf, a bad class, coordinates that are not normalised) skips it (after a bad
    class, ``rejected_classes`` lists every class id it uses). Repairs (``fixed``): degenerate
    rows (w or h <= 0) dropped, boxes reaching outside the image clipped (dropped when nothing is
    left), duplicate rows dropped.
    """
    empty = np.zeros((0, 5), np.float32)
    if not os.path.isfile(label_path):
        return empty, "missing", [], 0, False, []
    try:
        with open(label_path, encoding="utf-8") as f:
            lines = [ln.split() for ln in f.read().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        return empty, "corrupt", [f"cannot read label file ({exc})"], 0, False, []
    if not lines:
        return empty, "empty", [], 0, False, []
    rows = []
    for i, parts in enumerate(lines, 1):
        if len(parts) != 5:
            return (
                empty,
                "corrupt",
                [f"line {i}: {len(parts)} columns, expected 5 (cls cx cy w h)"],
                0,
                False,
                [],
            )
        try:
            rows.append([float(x) for x in parts])
        except ValueError:
            return empty, "corrupt", [f"line {i}: not numbers: {' '.join(parts)}"], 0, False, []
    a = np.array(rows, dtype=np.float64)
    bad = ~np.isfinite(a).all(1)
    if bad.any():
        return empty, "corrupt", [f"line {int(np.argmax(bad)) + 1}: NaN or inf"], 0, False, []
    cls = a[:, 0]
    bad = (cls < 0) | (cls != np.round(cls)) | ((cls >= nc) if nc is not None else False)
    if bad.any():
        i = int(np.argmax(bad))
        limit = f" (nc={nc})" if nc is not None else ""
        seen = sorted({int(c) for c in cls[(cls >= 0) & (cls == np.round(cls))]})
        return empty, "corrupt", [f"line {i + 1}: bad class {lines[i][0]}{limit}"], 0, False, seen
    xywh = a[:, 1:]
    bad = (xywh > 2.0).any(1) | (xywh < -1.0).any(1)
    if bad.any():
        return (
            empty,
            "corrupt",
            [f"line {int(np.argmax(bad)) + 1}: coordinates not normalised to 0-1"],
            0,
            False,
            [],
        )
    messages, fixed = [], False
    degenerate = (xywh[:, 2] <= 0) | (xywh[:, 3] <= 0)
    if degenerate.any():
        messages.append(f"{int(degenerate.sum())} degenerate box(es) (w or h <= 0) dropped")
        a, xywh, fixed = a[~degenerate], xywh[~degenerate], True
    x1, y1 = xywh[:, 0] - xywh[:, 2] / 2, xywh[:, 1] - xywh[:, 3] / 2
    x2, y2 = xywh[:, 0] + xywh[:, 2] / 2, xywh[:, 1] + xywh[:, 3] / 2
    outside = (x1 < -1e-6) | (y1 < -1e-6) | (x2 > 1 + 1e-6) | (y2 > 1 + 1e-6)
    if outside.any():
        x1, x2 = x1.clip(0, 1), x2.clip(0, 1)
        y1, y2 = y1.clip(0, 1), y2.clip(0, 1)
        gone = (x2 - x1 <= 0) | (y2 - y1 <= 0)
        n_clip, n_gone = int((outside & ~gone).sum()), int(gone.sum())
        if n_clip:
            messages.append(f"{n_clip} box(es) reaching outside the image clipped")
        if n_gone:
            messages.append(f"{n_gone} box(es) outside the image dropped")
        a = np.stack([a[:, 0], (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], 1)[~gone]
        fixed = True
    a = a.astype(np.float32)
    _, first = np.unique(a, axis=0, return_index=True)
    duplicates = len(a) - len(first)
    if duplicates:
        a = a[np.sort(first)]
        messages.append(f"{duplicates} duplicate row(s) dropped")
        fixed = True
    return a.reshape(-1, 5), "ok", messages, duplicates, fixed, []


def check_file(path: str, label_path: str | None, nc: int | None) -> FileResult:
    """Check one image and (if given) its label file."""
    res = FileResult(path=path, label_path=label_path)
    shape, error, note = check_image(path)
    if error is not None:
        res.status, res.messages = "corrupt", [error]
        return res
    res.shape = shape
    if note:
        res.messages.append(note)
        res.fixed = True
    if label_path is None:
        return res
    labels, status, messages, dups, fixed, over = check_labels(label_path, nc)
    res.labels, res.status, res.duplicates, res.rejected_classes = labels, status, dups, over
    res.messages += messages
    res.fixed = res.fixed or fixed
    return res


def apply_decoder_warning(res: FileResult, warning: str) -> None:
    """Fold what the JPEG decoder said about ``res``'s image into ``res``.

    "Corrupt JPEG data" (a scrambled body: the pixels are garbage) makes the image corrupt;
    "Premature end of JPEG file" (truncated; the missing rows are grey) keeps it, noted, as
    YOLOv6 and Ultralytics do.
    """
    if not warning or res.status == "corrupt":
        return
    first = warning.strip().splitlines()[0]
    if "Corrupt JPEG data" in warning or "does not decode" in warning:
        res.status, res.labels, res.messages = (
            "corrupt",
            np.zeros((0, 5), np.float32),
            [f"corrupt JPEG ({first})"],
        )
        res.fixed, res.duplicates = False, 0
    elif not any("JPEG" in m for m in res.messages):
        res.messages.append(f"JPEG decoder warning: {first}; kept")
        res.fixed = True
