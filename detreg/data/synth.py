"""Built-in synthetic detection data: coloured shapes on textured backgrounds.

``make_synth_dataset`` writes a small YOLO-layout dataset (plus COCO ground truth for
the val split) that needs no download, for smoke tests, tutorials and benchmarks::

    out/images/{train,val}/000000.jpg
    out/labels/{train,val}/000000.txt      cls cx cy w h (normalised, 6 decimals)
    out/annotations/instances_val.json     COCO: image id = index, category id = class index
    out/data.yaml                          path, train, val, nc, names

Every image is a pure function of ``(seed, split, index)``, so the same seed gives the
same bytes whatever the worker count. Boxes are the extent of the visible (not
occluded) pixels of each shape, taken from the very alpha mask used to draw it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from detreg.data.synth_files import claim_output

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "ring")
#: Every shape the generator draws: :data:`SHAPES` (the default classes) and four more
#: that ``classes`` can ask for (the ten-class benchmark set uses all of them).
ALL_SHAPES: tuple[str, ...] = (*SHAPES, "pentagon", "hexagon", "diamond", "arrow")

_SPLITS = {"train": 0, "val": 1}
_SHIFT = 4  # fixed-point bits for sub-pixel cv2 drawing
_ONE = 1 << _SHIFT
_MARGIN = 4  # min pixels between a shape's circumcircle and the image border
_MIN_REL, _MAX_REL = 0.06, 0.5  # object size (circumcircle diameter) / shorter image side
_MIN_VISIBLE = 0.6  # an object must keep this fraction of its pixels visible
_ALPHA_EPS = 1e-3  # alpha above this counts as a drawn pixel


@dataclass(frozen=True)
class SynthStyle:
    """How hard the images are: object count, object size, occlusion, clutter, background.

    ``min_rel``/``max_rel``: object size (circumcircle diameter) over the shorter image side,
    drawn log-uniformly; ``min_visible``: the fraction of its pixels an object keeps when
    later objects overlap it; ``distractors``: up to this many unlabelled clutter marks
    (elongated ellipses, strokes, blotches) under the objects; ``texture``: photo-like
    multi-scale texture backgrounds instead of gradients.
    """

    min_objects: int = 1
    max_objects: int = 8
    min_rel: float = _MIN_REL
    max_rel: float = _MAX_REL
    min_visible: float = _MIN_VISIBLE
    distractors: int = 0
    texture: bool = False


#: Named styles: ``demo`` (the default: a few mid-size shapes) and ``hard`` (many small,
#: overlapping objects on cluttered photo-like backgrounds, for the quality benchmark).
STYLES: dict[str, SynthStyle] = {
    "demo": SynthStyle(),
    "hard": SynthStyle(
        min_objects=3,
        max_objects=20,
        min_rel=0.035,
        max_rel=0.3,
        min_visible=0.45,
        distractors=10,
        texture=True,
    ),
}


def get_style(style: str | SynthStyle) -> SynthStyle:
    """A :class:`SynthStyle` from its name in :data:`STYLES` (or the style itself)."""
    if isinstance(style, SynthStyle):
        return style
    if style not in STYLES:
        raise ValueError(f"unknown synthetic style {style!r}; choose from {', '.join(STYLES)}")
    return STYLES[style]


@dataclass
class _Obj:
    cls: int
    x0: int
    y0: int
    alpha: np.ndarray  # full alpha of the shape, float32 [ph, pw], in the patch at (x0, y0)
    visible: np.ndarray  # alpha left visible after later objects, same shape
    area: float


def _poly(cx: float, cy: float, radii: np.ndarray, angles: np.ndarray) -> np.ndarray:
    xs = cx + radii * np.cos(angles)
    ys = cy + radii * np.sin(angles)
    return np.round(np.stack([xs, ys], 1) * _ONE).astype(np.int32)


def shape_alpha(
    shape: str, size: float, angle: float, cx: float, cy: float, inner: float = 0.55
) -> tuple[np.ndarray, int, int]:
    """Anti-aliased alpha mask of one shape whose circumcircle has diameter ``size``.

    ``(cx, cy)`` is the centre in image pixels, ``angle`` the rotation in radians,
    ``inner`` the hole/outer radius ratio of a ring.
    Returns ``(alpha, x0, y0)``: a float32 patch in ``[0, 1]`` and its top-left pixel.
    """
    r = size / 2.0
    # cv2 anti-aliasing can touch pixels up to ~2 px beyond the geometric edge
    x0, y0 = math.floor(cx - r - 2.5), math.floor(cy - r - 2.5)
    x1, y1 = math.ceil(cx + r + 2.5) + 1, math.ceil(cy + r + 2.5) + 1
    lx, ly = cx - x0, cy - y0  # centre in patch coordinates
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    c16 = (round(lx * _ONE), round(ly * _ONE))
    if shape == "circle":
        cv2.circle(m, c16, round(r * _ONE), 255, -1, cv2.LINE_AA, _SHIFT)
    elif shape == "ring":
        cv2.circle(m, c16, round(r * _ONE), 255, -1, cv2.LINE_AA, _SHIFT)
        hole = np.zeros_like(m)
        cv2.circle(hole, c16, round(inner * r * _ONE), 255, -1, cv2.LINE_AA, _SHIFT)
        m = cv2.subtract(m, hole)
    else:
        if shape == "square":
            k = np.arange(4)
            pts = _poly(lx, ly, np.full(4, r), angle + k * (math.pi / 2) + math.pi / 4)
        elif shape == "triangle":
            k = np.arange(3)
            pts = _poly(lx, ly, np.full(3, r), angle + k * (2 * math.pi / 3) - math.pi / 2)
        elif shape == "star":
            k = np.arange(10)
            radii = np.where(k % 2 == 0, r, 0.45 * r)
            pts = _poly(lx, ly, radii, angle + k * (math.pi / 5) - math.pi / 2)
        elif shape in ("pentagon", "hexagon"):
            n = 5 if shape == "pentagon" else 6
            k = np.arange(n)
            pts = _poly(lx, ly, np.full(n, r), angle + k * (2 * math.pi / n) - math.pi / 2)
        elif shape == "diamond":  # a rhombus half as wide as it is long
            k = np.arange(4)
            pts = _poly(lx, ly, np.where(k % 2 == 0, r, 0.5 * r), angle + k * (math.pi / 2))
        elif shape == "arrow":
            w, hw = 0.22 * r, 0.6 * r  # shaft half-width, head half-width; tip at +r, tail at -r
            local = np.array(
                [
                    (r, 0),
                    (0.1 * r, hw),
                    (0.1 * r, w),
                    (-r * 0.97, w),
                    (-r * 0.97, -w),
                    (0.1 * r, -w),
                    (0.1 * r, -hw),
                ],
                np.float64,
            )
            ca, sa = math.cos(angle), math.sin(angle)
            rot = local @ np.array([[ca, sa], [-sa, ca]])
            pts = np.round((rot + (lx, ly)) * _ONE).astype(np.int32)
        elif shape == "cross":
            w = 0.3 * r  # arm half-width
            arm = math.sqrt(r * r - w * w)  # arm-end corners lie on the circumcircle
            local = np.array(
                [
                    (w, -w),
                    (arm, -w),
                    (arm, w),
                    (w, w),
                    (w, arm),
                    (-w, arm),
                    (-w, w),
                    (-arm, w),
                    (-arm, -w),
                    (-w, -w),
                    (-w, -arm),
                    (w, -arm),
                ],
                np.float64,
            )
            ca, sa = math.cos(angle), math.sin(angle)
            rot = local @ np.array([[ca, sa], [-sa, ca]])
            pts = np.round((rot + (lx, ly)) * _ONE).astype(np.int32)
        else:
            raise ValueError(f"unknown synthetic shape {shape!r}; choose from {ALL_SHAPES}")
        cv2.fillPoly(m, [pts], 255, lineType=cv2.LINE_AA, shift=_SHIFT)
    return m.astype(np.float32) / 255.0, x0, y0


def _background(rng: np.random.Generator, h: int, w: int, flat: bool) -> np.ndarray:
    if flat:
        return np.full((h, w, 3), rng.uniform(0, 255, 3), np.float32)
    # linear gradient between two colours at a random angle
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    th = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = xx * math.cos(th) + yy * math.sin(th)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    img = c0.astype(np.float32) + t[..., None] * (c1 - c0).astype(np.float32)
    # low-frequency colour clouds
    g = int(rng.integers(3, 10))
    clouds = rng.normal(0, rng.uniform(10, 40), (g, g, 3)).astype(np.float32)
    img += cv2.resize(clouds, (w, h), interpolation=cv2.INTER_CUBIC)
    # soft blobs (drawn and blurred at quarter resolution: cheap, and too soft to pass for shapes)
    qh, qw = max(h // 4, 1), max(w // 4, 1)
    blobs = np.zeros((qh, qw, 3), np.float32)
    for _ in range(int(rng.integers(0, 6))):
        ax = (int(rng.integers(1, max(2, qw // 4))), int(rng.integers(1, max(2, qh // 4))))
        cen = (int(rng.integers(0, qw)), int(rng.integers(0, qh)))
        col = tuple(float(v) for v in rng.normal(0, 50, 3))
        cv2.ellipse(blobs, cen, ax, float(rng.uniform(0, 180)), 0, 360, col, -1)
    if blobs.any():
        blobs = cv2.GaussianBlur(blobs, (0, 0), rng.uniform(1.5, 3))
        img += cv2.resize(blobs, (w, h), interpolation=cv2.INTER_LINEAR)
    # thin random lines and scribbles (sharp clutter)
    for _ in range(int(rng.integers(0, 10))):
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        col = tuple(float(v) for v in rng.uniform(0, 255, 3))
        cv2.line(img, p0, p1, col, int(rng.integers(1, 3)), cv2.LINE_AA)
    # fine-grain texture
    if rng.random() < 0.7:
        img += rng.normal(0, rng.uniform(2, 14), (h, w, 1)).astype(np.float32)
    return np.clip(img, 0, 255)


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A photo-like background: colour noise at several scales, blurred patches, grain."""
    img = np.full((h, w, 3), rng.uniform(40, 215, 3), np.float32)
    for cells in (2, 5, 13, 31):  # octaves: from broad shading to fine texture
        amp = rng.uniform(5, 45) * (0.6 if cells > 10 else 1.0)
        noise = rng.normal(0, amp, (cells, cells, 3)).astype(np.float32)
        if rng.random() < 0.5:  # some octaves are grey (luminance only)
            noise[...] = noise[..., :1]
        img += cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(2, 8))):  # soft-edged regions (walls, sky, floor ...)
        x0, y0 = int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h))
        x1, y1 = x0 + int(rng.integers(w // 6, w)), y0 + int(rng.integers(h // 6, h))
        patch = np.zeros((h, w, 1), np.float32)
        cv2.rectangle(patch, (x0, y0), (x1, y1), 1.0, -1)
        patch = cv2.GaussianBlur(patch, (0, 0), rng.uniform(2, 12))[..., None]
        img = img * (1 - 0.6 * patch) + 0.6 * patch * rng.uniform(0, 255, 3).astype(np.float32)
    return img


def _distractors(rng: np.random.Generator, img: np.ndarray, n: int) -> None:
    """Draw ``n`` unlabelled marks (elongated ellipses, thick strokes, blotches) in place."""
    h, w = img.shape[:2]
    side = min(h, w)
    for _ in range(n):
        col = tuple(float(v) for v in rng.uniform(0, 255, 3))
        cen = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        kind = rng.random()
        if kind < 0.4:  # elongated ellipse (a circle is a class: keep the aspect <= 0.45)
            a = max(2, int(side * rng.uniform(0.02, 0.15)))
            axes = (a, max(1, int(a * rng.uniform(0.1, 0.45))))
            cv2.ellipse(img, cen, axes, float(rng.uniform(0, 180)), 0, 360, col, -1, cv2.LINE_AA)
        elif kind < 0.75:  # thick polyline stroke
            pts = np.cumsum(rng.normal(0, side * 0.06, (int(rng.integers(3, 7)), 2)), 0) + cen
            cv2.polylines(img, [pts.astype(np.int32)], False, col, int(rng.integers(1, 5)), cv2.LINE_AA)
        else:  # irregular blotch: a soft random polygon
            k = int(rng.integers(7, 12))
            ang = np.sort(rng.uniform(0, 2 * math.pi, k))
            rad = side * rng.uniform(0.01, 0.08) * rng.uniform(0.4, 1.0, k)
            pts = np.stack([cen[0] + rad * np.cos(ang), cen[1] + rad * np.sin(ang)], 1)
            cv2.fillPoly(img, [pts.astype(np.int32)], col, cv2.LINE_AA)


def _pick_colour(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    best, best_d = None, -1.0
    for _ in range(12):
        c = rng.uniform(0, 255, 3)
        d = float(np.linalg.norm(c - under))
        if d > best_d:
            best, best_d = c, d
        if d >= 110:
            break
    return np.asarray(best, np.float32)


def _overlap(a: _Obj, b: _Obj) -> tuple[slice, slice, slice, slice] | None:
    """Slices (a_rows, a_cols, b_rows, b_cols) of the overlap of two patches, or None."""
    ah, aw = a.alpha.shape
    bh, bw = b.alpha.shape
    x0, y0 = max(a.x0, b.x0), max(a.y0, b.y0)
    x1, y1 = min(a.x0 + aw, b.x0 + bw), min(a.y0 + ah, b.y0 + bh)
    if x0 >= x1 or y0 >= y1:
        return None
    return (
        slice(y0 - a.y0, y1 - a.y0),
        slice(x0 - a.x0, x1 - a.x0),
        slice(y0 - b.y0, y1 - b.y0),
        slice(x0 - b.x0, x1 - b.x0),
    )


def render_image(
    rng: np.random.Generator,
    width: int,
    height: int,
    shapes: Sequence[str] = SHAPES,
    n_objects: int | None = None,
    flat: bool = False,
    style: str | SynthStyle = "demo",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one image; returns ``(img uint8 [H,W,3], boxes float [n,4] xyxy px, classes int [n])``.

    ``boxes`` frame the visible drawn pixels of each object (``x2``/``y2`` exclusive pixel
    edges). ``flat`` gives a plain one-colour background and no pixel noise (for tests).
    ``style`` (a name from :data:`STYLES` or a :class:`SynthStyle`) sets how hard it is.
    """
    st = get_style(style)
    if st.texture and not flat:
        img = _texture(rng, height, width)
    else:
        img = _background(rng, height, width, flat)
    if st.distractors and not flat:
        _distractors(rng, img, int(rng.integers(0, st.distractors + 1)))
        img = np.clip(img, 0, 255)
    n = int(rng.integers(st.min_objects, st.max_objects + 1)) if n_objects is None else n_objects
    side = min(width, height)
    objs: list[_Obj] = []
    for _ in range(n):
        for _attempt in range(30):
            cls = int(rng.integers(0, len(shapes)))
            rel = math.exp(rng.uniform(math.log(st.min_rel), math.log(st.max_rel)))
            size = max(rel * side, 6.0)
            r = size / 2 + _MARGIN
            cx = rng.uniform(r, width - r)
            cy = rng.uniform(r, height - r)
            angle, inner = rng.uniform(0, 2 * math.pi), rng.uniform(0.45, 0.7)
            alpha, x0, y0 = shape_alpha(shapes[cls], size, angle, cx, cy, inner)
            new = _Obj(cls, x0, y0, alpha, alpha.copy(), float(alpha.sum()))
            # would the new object hide too much of an earlier one?
            updates = []
            ok = True
            for o in objs:
                sl = _overlap(o, new)
                if sl is None:
                    continue
                v = o.visible.copy()
                v[sl[0], sl[1]] *= 1.0 - alpha[sl[2], sl[3]]
                if v.sum() < st.min_visible * o.area:
                    ok = False
                    break
                updates.append((o, v))
            if not ok:
                continue
            for o, v in updates:
                o.visible = v
            ph, pw = alpha.shape
            roi = img[y0 : y0 + ph, x0 : x0 + pw]
            a = alpha[..., None]
            under = (roi * a).sum((0, 1)) / max(float(alpha.sum()), 1e-6)
            colour = _pick_colour(rng, under)
            fill = np.broadcast_to(colour, roi.shape).astype(np.float32)
            if not flat:  # shading gradient across the shape
                gx, gy = rng.uniform(-30, 30, 2) / max(ph, 1)
                yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
                fill = fill + (gx * (xx - pw / 2) + gy * (yy - ph / 2))[..., None]
            roi[...] = roi * (1.0 - a) + np.clip(fill, 0, 255) * a
            objs.append(new)
            break
    if not flat:
        img += rng.normal(0, rng.uniform(0, 6), img.shape).astype(np.float32)
    out = np.clip(np.round(img), 0, 255).astype(np.uint8)
    boxes, classes = [], []
    for o in objs:
        ys, xs = np.nonzero(o.visible > _ALPHA_EPS)
        boxes.append((o.x0 + xs.min(), o.y0 + ys.min(), o.x0 + xs.max() + 1, o.y0 + ys.max() + 1))
        classes.append(o.cls)
    return out, np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(classes, np.int64)


def _image_size(rng: np.random.Generator, size: int) -> tuple[int, int]:
    if rng.random() < 0.5:
        return size, size
    w, h = (max(32, round(size * f)) for f in rng.uniform(0.75, 1.25, 2))
    return int(w), int(h)


def _make_one(task: tuple[int, int, int, int, Path, Path, Sequence[str], SynthStyle]) -> dict:
    seed, split_code, idx, size, img_path, lbl_path, shapes, style = task
    rng = np.random.default_rng((seed, split_code, idx))
    w, h = _image_size(rng, size)
    img, boxes, classes = render_image(rng, w, h, shapes, style=style)
    quality = int(rng.integers(80, 96))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f"could not encode {img_path}")
    img_path.write_bytes(buf.tobytes())
    lines = []
    for (x1, y1, x2, y2), c in zip(boxes, classes):
        cx, cy, bw, bh = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h
        lines.append(f"{c} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
    lbl_path.write_text("".join(line + "\n" for line in lines))
    return {"width": w, "height": h, "boxes": boxes, "classes": classes}


def make_synth_dataset(
    out_dir: str | os.PathLike,
    n_train: int = 200,
    n_val: int = 50,
    size: int = 320,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    workers: int | None = None,
    style: str | SynthStyle = "demo",
) -> Path:
    """Write a synthetic shapes dataset in YOLO layout (+ COCO val json); return the data yaml path.

    ``classes`` picks a subset/order of :data:`ALL_SHAPES` (default: the six of :data:`SHAPES`);
    ``style`` how hard the images are (:data:`STYLES`: ``demo`` or ``hard``). ``size`` is the
    nominal image side; about half the images are non-square (each side ×0.75–1.25).
    Output is byte-identical for the same arguments, whatever ``workers``.
    """
    shapes = tuple(SHAPES if classes is None else classes)
    bad = [s for s in shapes if s not in ALL_SHAPES]
    if bad or not shapes or len(set(shapes)) != len(shapes):
        raise ValueError(f"classes must be distinct names from {ALL_SHAPES}, got {list(shapes)}")
    st = get_style(style)
    if n_train < 0 or n_val < 0 or size < 32:
        raise ValueError("need n_train >= 0, n_val >= 0 and size >= 32")
    out = Path(out_dir).expanduser().resolve()
    counts = {"train": n_train, "val": n_val}
    tasks = []
    for split, n in counts.items():
        img_dir, lbl_dir = out / "images" / split, out / "labels" / split
        for i in range(n):
            img_path, lbl_path = img_dir / f"{i:06d}.jpg", lbl_dir / f"{i:06d}.txt"
            tasks.append((seed, _SPLITS[split], i, size, img_path, lbl_path, shapes, st))
    # only files an earlier synthetic set wrote are replaced (stale ones from a bigger run
    # would corrupt the counts); anything else there stops us before a file is touched
    planned = [p for t in tasks for p in t[4:6]]
    planned += [out / "annotations" / "instances_val.json", out / "data.yaml"]
    params = {"n_train": n_train, "n_val": n_val, "size": size, "seed": seed, "classes": list(shapes)}
    if st != STYLES["demo"]:
        params["style"] = style if isinstance(style, str) else repr(st)
    claim_output(out, planned, params)
    for split in counts:
        for d in (out / "images" / split, out / "labels" / split):
            d.mkdir(parents=True, exist_ok=True)
    workers = workers or min(8, os.cpu_count() or 1)
    if workers > 1 and len(tasks) > 1:
        with ThreadPoolExecutor(workers) as ex:
            results = list(ex.map(_make_one, tasks))
    else:
        results = [_make_one(t) for t in tasks]

    val_results = results[n_train:]
    coco: dict = {
        "info": {"description": f"detreg synthetic shapes (seed {seed})"},
        "images": [],
        "annotations": [],
        "categories": [{"id": i, "name": s, "supercategory": "shape"} for i, s in enumerate(shapes)],
    }
    ann_id = 1  # start at 1: pycocotools treats id 0 as "unmatched"
    for i, r in enumerate(val_results):
        coco["images"].append(
            {"id": i, "file_name": f"{i:06d}.jpg", "width": r["width"], "height": r["height"]}
        )
        for (x1, y1, x2, y2), c in zip(r["boxes"], r["classes"]):
            bw, bh = float(x2 - x1), float(y2 - y1)
            coco["annotations"].append(
                {
                    "id": ann_id,
                    "image_id": i,
                    "category_id": int(c),
                    "bbox": [float(x1), float(y1), bw, bh],
                    "area": bw * bh,
                    "iscrowd": 0,
                }
            )
            ann_id += 1
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    (out / "annotations" / "instances_val.json").write_text(json.dumps(coco))
    data = {
        "path": str(out),
        "train": "images/train",
        "val": "images/val",
        "nc": len(shapes),
        "names": list(shapes),
    }
    yaml_path = out / "data.yaml"
    yaml_path.write_text(yaml.safe_dump(data, sort_keys=False))
    return yaml_path


def run_synth(args: argparse.Namespace) -> int:
    """Handler of ``detreg data synth``: generate the dataset and print a one-line summary."""
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    yaml_path = make_synth_dataset(
        args.out,
        n_train=args.train,
        n_val=args.val,
        size=args.size,
        seed=args.seed,
        classes=classes,
        workers=args.workers,
        style=args.style,
    )
    names = yaml.safe_load(yaml_path.read_text())["names"]
    print(
        f"synth: wrote {args.train} train + {args.val} val images ({len(names)} classes: "
        f"{','.join(names)}) to {yaml_path.parent}; data yaml {yaml_path}"
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``synth`` subcommand to ``subparsers``; its handler is ``args.func = run_synth``."""
    p = subparsers.add_parser(
        "synth",
        help="generate the built-in synthetic shapes dataset",
        description="Write a synthetic shapes detection dataset (YOLO layout, COCO val json, data.yaml).",
    )
    p.add_argument("out", help="output directory")
    p.add_argument("--train", type=int, default=200, help="number of train images (default 200)")
    p.add_argument("--val", type=int, default=50, help="number of val images (default 50)")
    p.add_argument("--size", type=int, default=320, help="nominal image side in pixels (default 320)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--classes",
        default=None,
        help=f"comma-separated subset of {','.join(ALL_SHAPES)} (default: {','.join(SHAPES)})",
    )
    p.add_argument(
        "--style",
        choices=sorted(STYLES),
        default="demo",
        help="demo: a few mid-size shapes (default); hard: many small overlapping objects, "
        "clutter, photo-like backgrounds",
    )
    p.add_argument("--workers", type=int, default=None, help="threads (default: cpu count, at most 8)")
    p.set_defaults(func=run_synth)
    return p
