"""A malformed-data corpus is reported file by file, skipped, and never crashes a loader."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from data_helpers import write_yolo

from detreg.data.loader import build_dataloader
from detreg.data.scan import scan
from detreg.data.transforms import Mosaic, RandomAffine
from detreg.data.yolo import YOLODataset
from detreg.errors import DetregError

BOX = "0.5 0.5 0.2 0.2"


def _png(path: Path, h: int = 48, w: int = 64) -> None:
    img = np.full((h, w, 3), 60, np.uint8)
    img[10:30, 20:40] = (255, 0, 0)
    cv2.imwrite(str(path), img)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """4 good images plus one of every kind of broken file."""
    write_yolo(tmp_path, "train", 4, seed=0, size=64)
    img, lbl = tmp_path / "images" / "train", tmp_path / "labels" / "train"
    (img / "corrupt.jpg").write_bytes(b"this is not a jpeg at all" * 10)
    (lbl / "corrupt.txt").write_text(f"0 {BOX}\n")
    (img / "zero.jpg").write_bytes(b"")
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = cv2.imencode(".jpg", noise)[1].tobytes()
    (img / "truncated.jpg").write_bytes(data[: int(len(data) * 0.9)])  # scan data cut, no end marker
    (lbl / "truncated.txt").write_text(f"1 {BOX}\n")
    _png(img / "tiny.png", 5, 5)
    labels = {
        "missing": None,
        "empty": "",
        "cols4": "0 0.5 0.5 0.2\n",
        "cols6": "0 0.5 0.5 0.2 0.2 0.9\n",
        "nan": "0 nan 0.5 0.2 0.2\n",
        "badcls": f"3 {BOX}\n",
        "negsize": f"0 0.5 0.5 -0.2 0.2\n1 {BOX}\n",
        "outside": "0 1.3 0.5 0.1 0.1\n1 0.95 0.5 0.2 0.2\n2 0.3 0.3 0.2 0.2\n",
        "dup": f"0 {BOX}\n0 {BOX}\n0 {BOX}\n1 0.3 0.3 0.2 0.2\n",
    }
    for name, text in labels.items():
        _png(img / f"{name}.png")
        if text is not None:
            (lbl / f"{name}.txt").write_text(text)
    return tmp_path


def _report(corpus: Path, **kw):
    images = sorted(str(p) for p in (corpus / "images" / "train").iterdir())
    labels = [p.replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt" for p in images]
    return scan(images, labels, nc=3, progress=False, **kw)


def test_scan_report_counts_and_lines(corpus: Path) -> None:
    rep = _report(corpus, cache_path=False)
    c = rep.counts
    assert c["images"] == 17
    assert (c["ok"], c["missing"], c["empty"], c["corrupt"]) == (8, 1, 1, 7)
    assert c["fixed"] == 4 and c["duplicates"] == 2
    by_name = {Path(r.path).stem: r for r in rep.results}
    for name in ("corrupt", "zero", "tiny", "cols4", "cols6", "nan", "badcls"):
        assert by_name[name].status == "corrupt", name
    assert "zero-byte" in by_name["zero"].messages[0]
    assert "6 columns" in by_name["cols6"].messages[0] and "4 columns" in by_name["cols4"].messages[0]
    assert "NaN" in by_name["nan"].messages[0] and "bad class 3" in by_name["badcls"].messages[0]
    assert "smaller than 10" in by_name["tiny"].messages[0]
    assert len(by_name["negsize"].labels) == 1
    out = by_name["outside"]
    assert len(out.labels) == 2 and out.labels[:, 1:].max() <= 1.0 + 1e-6  # one dropped, one clipped
    np.testing.assert_allclose(out.labels[0], [1, 0.925, 0.5, 0.15, 0.2], atol=1e-6)
    assert len(by_name["dup"].labels) == 2
    assert by_name["truncated"].status == "ok" and by_name["truncated"].fixed
    lines = rep.problems()
    assert len(lines) == 11 and all(line.startswith(("skipped: ", "fixed: ")) for line in lines)
    assert "7 corrupt" in rep.summary() and "1 missing labels" in rep.summary()


def test_loader_skips_bad_files_and_survives_a_vanished_image(corpus: Path) -> None:
    ds = YOLODataset(
        str(corpus / "images" / "train"),
        img_size=64,
        class_names=["a", "b", "c", "d"],  # with 3, class 3 in badcls.txt stops the load (test below)
        transforms=[Mosaic(prob=0.5), RandomAffine(degrees=5)],
    )
    assert len(ds) == 11 and ds.report is not None and ds.report.counts["corrupt"] == 6
    os.remove(corpus / "images" / "train" / "000001.png")  # changed after the scan
    loader = build_dataloader(ds, batch_size=4, workers=0, seed=0)
    n = 0
    for batch in loader:
        assert batch["img"].shape[1:] == (3, 64, 64)
        t = batch["targets"]
        assert t.shape[1] == 6 and bool(((t[:, 2:] >= 0) & (t[:, 2:] <= 1)).all())
        n += len(batch["paths"])
    assert n == 11


def test_class_ids_beyond_names_stop_the_load(corpus: Path) -> None:
    with pytest.raises(
        DetregError, match=r"labels use class ids 0-3 but nc=3 \(ids 3 are out of range in 1 of"
    ):
        YOLODataset(str(corpus / "images" / "train"), img_size=64, class_names=["a", "b", "c"])


def test_scan_cache_is_used_and_invalidated(corpus: Path) -> None:
    src = str(corpus / "images" / "train")
    kw = {"img_size": 64, "class_names": ["a", "b", "c", "d"]}
    first = YOLODataset(src, **kw)
    assert first.report is not None and not first.report.from_cache
    cache = Path(first.report.cache_path)
    assert cache.is_file() and cache.parent == corpus / "labels"
    again = YOLODataset(src, **kw)
    assert again.report is not None and again.report.from_cache
    assert again.report.counts == first.report.counts
    time.sleep(0.01)
    (corpus / "labels" / "train" / "empty.txt").write_text(f"2 {BOX}\n2 0.2 0.2 0.1 0.1\n")
    changed = YOLODataset(src, **kw)
    assert changed.report is not None and not changed.report.from_cache
    assert changed.report.counts["boxes"] == first.report.counts["boxes"] + 2
    assert changed.report.counts["empty"] == 0
    other_nc = YOLODataset(src, img_size=64, class_names=["a", "b", "c", "d", "e"])
    assert other_nc.report is not None and not other_nc.report.from_cache  # nc is part of the key


def test_unwritable_cache_folder_only_warns(corpus: Path, caplog) -> None:
    rep = _report(corpus, cache_path=str(corpus / "no_such_dir" / "x.cache.json"))
    assert rep.counts["images"] == 17 and not rep.from_cache


def test_scan_draws_no_progress_bar_into_a_pipe(corpus: Path, capfd) -> None:
    """Piped output (``detreg-train ... 2>&1 | tee log``) gets no bar fragments."""
    images = sorted(str(p) for p in (corpus / "images" / "train").iterdir())
    labels = [p.replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt" for p in images]
    scan(images, labels, nc=3, cache_path=False, progress=True)
    out, err = capfd.readouterr()
    assert "\r" not in out + err and "img/s" not in out + err
