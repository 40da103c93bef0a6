"""A JPEG whose header is valid but whose body is scrambled is reported corrupt (the scan
decodes every image in full); a truncated JPEG is still kept (noted); PNG bodies too."""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from detreg.cli import main
from detreg.data.scan import scan
from detreg.data.synth import make_synth_dataset


def _scramble_body(path: Path, seed: int) -> None:
    """Keep every header segment up to and with SOS, replace the entropy-coded data."""
    data = path.read_bytes()
    sos = data.index(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    body = np.random.default_rng(seed).integers(0, 256, len(data) - start - 2, dtype=np.uint8).tobytes()
    path.write_bytes(data[:start] + body + b"\xff\xd9")


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    return make_synth_dataset(tmp_path / "shapes", n_train=8, n_val=2, size=96, seed=0)


def _scan(root: Path):
    images = sorted(str(p) for p in (root / "images" / "train").iterdir())
    labels = [p.replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt" for p in images]
    return scan(images, labels, nc=6, cache_path=False, progress=False)


def test_scrambled_jpeg_body_is_corrupt(shapes: Path, capsys) -> None:
    root = shapes.parent
    for i in range(3):
        _scramble_body(root / "images" / "train" / f"00000{i}.jpg", seed=i)
    img = cv2.imread(str(root / "images" / "train" / "000000.jpg"))
    assert img is not None  # decodes "fine": only libjpeg's stderr knows
    rep = _scan(root)
    by_name = {Path(r.path).name: r for r in rep.results}
    for i in range(3):
        r = by_name[f"00000{i}.jpg"]
        assert r.status == "corrupt" and "corrupt JPEG (Corrupt JPEG data" in r.messages[0], r
    assert rep.counts["corrupt"] == 3 and rep.counts["ok"] == 5
    assert main(["data", "check", str(shapes), "--no-cache"]) == 1
    out = capsys.readouterr().out
    assert "skipped: " in out and "000001.jpg: corrupt JPEG" in out


def test_truncated_jpeg_is_kept_with_a_note(shapes: Path) -> None:
    path = shapes.parent / "images" / "train" / "000004.jpg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])
    r = {Path(r.path).name: r for r in _scan(shapes.parent).results}["000004.jpg"]
    assert r.status == "ok" and r.fixed and "truncated JPEG" in r.messages[0]


def test_png_with_a_broken_body_is_corrupt(tmp_path: Path) -> None:
    img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    cv2.imwrite(str(good), img)
    data = bytearray(good.read_bytes())
    at = data.index(b"IDAT")
    size = int.from_bytes(data[at - 4 : at], "big")
    data[at + 40 : at + 104] = bytes(64)  # scramble the compressed pixels ...
    crc = zlib.crc32(bytes(data[at : at + 4 + size]))  # ... behind a valid chunk checksum
    data[at + 4 + size : at + 8 + size] = crc.to_bytes(4, "big")
    bad.write_bytes(bytes(data))
    rep = scan([str(good), str(bad)], None, None, cache_path=False, progress=False)
    assert [r.status for r in rep.results] == ["ok", "corrupt"]
    assert "does not decode" in rep.results[1].messages[0]
