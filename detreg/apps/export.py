"""``detreg-export`` / ``detreg export``: a checkpoint to ONNX, checked against PyTorch with ONNX Runtime.

The model is built from the config (or the checkpoint's stored config), loaded with the
EMA weights when present, fused (RepVGG blocks to one conv, Conv+BN folded) and exported
with the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``: it works
offline and needs no ``onnxscript``), opset 17 by default.

Graph input ``images``: float32 ``[B, 3, H, W]``, RGB in ``[0, 1]`` (letterboxed, as in
validation). Outputs:

* without ``--nms``: ``outputs`` float32 ``[B, A, 4 + nc]``: xyxy boxes in input pixels
  and per-class sigmoid scores (what ``Detector.forward`` returns), for NMS outside;
* with ``--nms``: ``num_dets`` int32 ``[B, 1]``, ``det_boxes`` float32 ``[B, K, 4]`` (xyxy
  input pixels), ``det_scores`` float32 ``[B, K]``, ``det_classes`` int32 ``[B, K]``, with
  ``K = --max-det``, highest score first; rows past ``num_dets`` hold 0 (class -1).
  The in-graph NMS (:mod:`detreg.models.export_graph`) is ONNX ``NonMaxSuppression`` on
  the best class of each anchor, the same selection as :func:`detreg.ops.nms.postprocess`
  (score > conf, class-aware IoU > iou).

After writing, the file is checked (``onnx.checker``) and run with ONNX Runtime (CPU) on
an input (random, or ``--check-image``); the outputs are compared with PyTorch's and the
command fails when they differ by more than ``--atol`` (+ ``--rtol`` relative).

An int8 file (``detreg quantize``, ``QATHook``) exports as a QDQ model (``--int8`` says
so and refuses a float checkpoint): ``QuantizeLinear``/``DequantizeLinear`` around int8
weight initializers (:mod:`detreg.quant.onnx`), checked against the torch int8 model
(default tolerance 0.05 + 0.025 of the image side: a value rounded to the neighbouring
int8 level moves a box side by up to a few pixels, see ``INT8_TOL``).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from detreg.apps import check_weights, img_size_hw, load_detector, resolve_config
from detreg.apps.common import add_common, add_config_args, add_trust_arg
from detreg.errors import DetregError
from detreg.models.export_graph import NMS_OUTPUTS, End2End

DEFAULT_OPSET = 17
DESCRIPTION = "export a checkpoint to ONNX and verify it with ONNX Runtime"
INSTALL_HINT = "pip install 'detreg[export]'  (or: pip install onnx onnxruntime)"
EXIT_MISMATCH = 1
#: Default ``(atol, rtol)`` of the ONNX Runtime check. An int8 model may round a value to
#: the neighbouring level where ONNX Runtime's fused kernels requantize differently from
#: PyTorch's reference ops; one level of a box-distance output times the stride moves a box
#: side by pixels (trained YOLOv6-N at 224 px: scores within 0.016, boxes within 4.6 px,
#: 2% of box coordinates more than 1 px apart, confident boxes within 0.6 px).
FLOAT_TOL, INT8_TOL = (1e-3, 1e-4), (0.05, 0.025)


def require_onnx() -> tuple[Any, Any]:
    """``(onnx, onnxruntime)``, or one clear error telling how to install them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise DetregError(
            f"ONNX export needs onnx and onnxruntime ({exc.name} is missing): {INSTALL_HINT}"
        ) from None
    return onnx, onnxruntime


# ---------------------------------------------------------------------- export + check
def export_onnx(
    model: nn.Module,
    path: str | Path,
    img_size: tuple[int, int] = (640, 640),
    batch: int = 1,
    dynamic: bool = False,
    nms: bool = False,
    conf_thres: float = 0.25,
    iou_thres: float = 0.65,
    max_det: int = 300,
    opset: int = DEFAULT_OPSET,
    metadata: dict[str, str] | None = None,
) -> tuple[Path, nn.Module]:
    """Export an eval-mode (fused) detector to ``path``; returns ``(path, exported module)``.

    ``dynamic`` makes the batch axis dynamic (``batch`` is then only the tracing size).
    ``metadata`` is stored in the file's ``metadata_props``.
    """
    onnx, _ = require_onnx()
    module: nn.Module = End2End(model, conf_thres, iou_thres, max_det) if nms else model
    module.eval()
    outputs = list(NMS_OUTPUTS) if nms else ["outputs"]
    dynamic_axes = {name: {0: "batch"} for name in ["images", *outputs]} if dynamic else None
    dummy = torch.rand(batch, 3, *img_size, generator=torch.Generator().manual_seed(0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings and the legacy-exporter notice
        torch.onnx.export(
            module,
            (dummy,),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=["images"],
            output_names=outputs,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
        )
    proto = onnx.load(str(path))
    if metadata:
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(path))
    onnx.checker.check_model(proto)
    return path, module


def ort_session(path: str | Path) -> Any:
    """An ONNX Runtime session on the CPU execution provider."""
    _, ort = require_onnx()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def compare_raw(session: Any, model: nn.Module, images: Tensor) -> float:
    """Max abs difference between ONNX Runtime's ``outputs`` and ``model(images)``."""
    with torch.no_grad():
        ref = model(images).numpy()
    out = session.run(None, {"images": images.numpy()})[0]
    if out.shape != ref.shape:
        raise AssertionError(f"ONNX output shape {out.shape} differs from PyTorch's {ref.shape}")
    import numpy as np

    return float(np.abs(out - ref).max()) if ref.size else 0.0


def compare_nms(
    session: Any,
    model: nn.Module,
    images: Tensor,
    conf_thres: float,
    iou_thres: float,
    max_det: int,
    atol: float = 1e-3,
) -> dict[str, float]:
    """Compare the in-graph NMS outputs with :func:`~detreg.ops.nms.postprocess` on ``model(images)``.

    Detections are matched one to one (same class, nearest box), so near-equal scores
    listed in another order are no difference. Where the kept sets differ, the image is
    accepted when ONNX Runtime's set is still a greedy NMS result of PyTorch's candidates
    with the scores that tie within ``atol`` taken in another order (NMS keeps one of two
    overlapping boxes of equal score; which one is arbitrary, and a chain of overlaps carries
    that choice on). Returns ``{"detections", "matched", "tie_images", "bad_images",
    "box_diff", "score_diff"}``: reference detections, pairs matched, images that differ
    only by such ties, images that truly disagree, and max abs differences over matched pairs.
    """
    import numpy as np

    from detreg.ops.nms import postprocess

    with torch.no_grad():
        raw = model(images)
    ref = postprocess(raw, conf_thres, iou_thres, max_det)
    num, boxes, scores, classes = session.run(list(NMS_OUTPUTS), {"images": images.numpy()})
    stats = dict.fromkeys(
        ("detections", "matched", "tie_images", "bad_images", "box_diff", "score_diff"), 0.0
    )
    tol = atol + 1e-4 * max(images.shape[-2:])
    for i, det in enumerate(ref):
        det = det.numpy()
        n = int(num[i, 0])
        stats["detections"] += len(det)
        if n < boxes.shape[1] and (np.any(boxes[i, n:] != 0) or np.any(classes[i, n:] != -1)):
            stats["bad_images"] += 1  # padding rows must be empty
            continue
        ob, os_, oc = boxes[i, :n], scores[i, :n], classes[i, :n]
        pairs = _match(det[:, :4], det[:, 5].astype(np.int64), ob, oc.astype(np.int64), tol)
        for r, o in pairs:
            stats["box_diff"] = max(stats["box_diff"], float(np.abs(det[r, :4] - ob[o]).max()))
            stats["score_diff"] = max(stats["score_diff"], float(abs(det[r, 4] - os_[o])))
        stats["matched"] += len(pairs)
        if len(pairs) == len(det) == n:
            continue
        if _is_greedy_nms(raw[i].numpy(), ob, os_, oc, conf_thres, iou_thres, max_det, atol, tol):
            stats["tie_images"] += 1
        else:
            stats["bad_images"] += 1
    return stats


def _match(ref_boxes: Any, ref_cls: Any, boxes: Any, cls: Any, tol: float) -> list[tuple[int, int]]:
    """One-to-one pairs ``(ref, other)`` of same-class boxes within ``tol`` (greedy, nearest first)."""
    import numpy as np

    if not len(ref_boxes) or not len(boxes):
        return []
    cost = np.abs(ref_boxes[:, None] - boxes[None]).max(-1)
    cost[ref_cls[:, None] != cls[None]] = np.inf
    pairs, used_r, used_o = [], set(), set()
    for flat in np.argsort(cost, axis=None):
        r, o = divmod(int(flat), cost.shape[1])
        if cost[r, o] > tol:
            break
        if r not in used_r and o not in used_o:
            pairs.append((r, o))
            used_r.add(r)
            used_o.add(o)
    return pairs


def _is_greedy_nms(
    pred: Any,
    boxes: Any,
    scores: Any,
    classes: Any,
    conf_thres: float,
    iou_thres: float,
    max_det: int,
    atol: float,
    tol: float,
) -> bool:
    """Whether detections ``boxes/scores/classes`` are a greedy class-aware NMS result of the
    candidates in ``pred [A, 4+nc]`` (best class, score > conf) when scores within ``atol``
    may be taken in either order."""
    import numpy as np

    from detreg.ops.boxes import box_iou

    s = pred[:, 4:].max(1)
    c = pred[:, 4:].argmax(1)
    m = s > conf_thres
    cb, cs, cc = pred[m, :4], s[m], c[m]
    kept = np.zeros(len(cs), dtype=bool)
    for o, r in _match(boxes, classes.astype(np.int64), cb, cc, tol):
        kept[r] = abs(cs[r] - scores[o]) <= atol
    if kept.sum() != len(boxes):
        return False  # a detection that is not a candidate
    iou = box_iou(torch.from_numpy(cb), torch.from_numpy(cb)).numpy()
    near = (iou > iou_thres - 1e-4) & (cc[:, None] == cc[None])
    far = (iou > iou_thres + 1e-4) & (cc[:, None] == cc[None])
    np.fill_diagonal(near, False)
    np.fill_diagonal(far, False)
    higher = cs[None, :] > cs[:, None] + atol  # [i, j]: j clearly above i
    not_lower = cs[None, :] >= cs[:, None] - atol
    if np.any(far[kept][:, kept] & higher[kept][:, kept]):
        return False  # a kept box should have been suppressed by a clearly higher kept one
    full = len(boxes) >= max_det
    floor = scores.min() - atol if len(scores) else np.inf
    for i in np.nonzero(~kept)[0]:
        if not np.any(near[i] & kept & not_lower[i]) and not (full and cs[i] < floor):
            return False  # dropped, yet nothing kept suppresses it
    return True


def check_input(
    img_size: tuple[int, int], batch: int, image: str | Path | None = None, seed: int = 0
) -> Tensor:
    """A verification batch ``[batch,3,H,W]`` in [0,1]: ``image`` letterboxed, else uniform noise."""
    if image is None:
        return torch.rand(batch, 3, *img_size, generator=torch.Generator().manual_seed(seed))
    from detreg.data.io import read_image
    from detreg.data.transforms.functional import letterbox

    img = read_image(str(image))
    if img is None:
        raise DetregError(f"--check-image: cannot read {image}")
    img = letterbox(img, img_size)[0]
    x = torch.from_numpy(img.transpose(2, 0, 1).copy()).float().div(255)
    return x[None].repeat(batch, 1, 1, 1)


def _check_int8(model: nn.Module, weights: Path, want: bool, opset: int) -> bool:
    """Whether ``model`` is an int8 model (then QDQ symbolics are registered for ``opset``);
    ``--int8`` with a float checkpoint is a user error saying how to make the int8 file."""
    int8 = type(model).__name__ == "QuantDetector"
    if want and not int8:
        raise DetregError(
            f"--int8: {weights} is a float checkpoint; make the int8 file first "
            f"(detreg quantize --weights {weights} --data my_data.yaml) and export "
            f"{weights.with_name(weights.stem + '_int8.pt')}"
        )
    if int8:
        from detreg.quant.onnx import register_qdq_symbolics

        register_qdq_symbolics(opset)
    return int8


# ---------------------------------------------------------------------- command
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Config (optional: the checkpoint's), overrides, ``--data`` and the export options."""
    add_config_args(p)
    add_trust_arg(p)
    add_common(p)
    p.add_argument("--weights", required=True, help="checkpoint to export (EMA weights preferred)")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="export format (onnx)")
    p.add_argument(
        "--img-size", type=int, nargs="+", default=None, help="H [W] of the input (default: train.img_size)"
    )
    p.add_argument("--batch", type=int, default=1, help="static batch size (tracing size with --dynamic)")
    p.add_argument("--dynamic", action="store_true", help="dynamic batch axis")
    p.add_argument(
        "--nms", action="store_true", help="NMS in the graph: num_dets/det_boxes/det_scores/det_classes"
    )
    p.add_argument("--conf", type=float, default=0.25, help="score threshold of the in-graph NMS")
    p.add_argument("--iou", type=float, default=0.65, help="IoU threshold of the in-graph NMS")
    p.add_argument("--max-det", type=int, default=300, help="detections per image kept by the in-graph NMS")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    p.add_argument("--work-dir", help="output folder (default: the weights' folder)")
    p.add_argument("--name", help="file name without .onnx (default: weights stem, + _nms with --nms)")
    p.add_argument("--check-image", help="verify on this image (default: random input)")
    p.add_argument(
        "--int8",
        action="store_true",
        help="QDQ int8 model: --weights must be an int8 file (detreg quantize, QAT)",
    )
    p.add_argument(
        "--atol",
        type=float,
        default=None,
        help=f"max abs ONNX-vs-PyTorch difference allowed (default {FLOAT_TOL[0]}, int8 {INT8_TOL[0]})",
    )
    p.add_argument(
        "--rtol",
        type=float,
        default=None,
        help=f"plus this fraction of the box coordinate size (default {FLOAT_TOL[1]}, int8 {INT8_TOL[1]})",
    )


def run(args: argparse.Namespace) -> int:
    """Export ``args.weights`` to ONNX and verify it; 0 on success, 1 when ORT disagrees."""
    weights = check_weights(args.weights)
    require_onnx()
    if args.opset < 17:
        raise DetregError(f"--opset: 17 or later is supported, got {args.opset}")
    if args.batch < 1 or args.max_det < 1:
        raise DetregError("--batch and --max-det must be positive")
    cfg = resolve_config(args)
    model, names, _ = load_detector(cfg, weights, "cpu", fuse=True)
    int8 = _check_int8(model, weights, args.int8, args.opset)
    tol = INT8_TOL if int8 else FLOAT_TOL
    args.atol = tol[0] if args.atol is None else args.atol
    args.rtol = tol[1] if args.rtol is None else args.rtol
    size = img_size_hw(args.img_size, int(cfg.data["train"]["img_size"]))
    stride = max(getattr(model, "strides", [32]))
    if size[0] % stride or size[1] % stride:
        raise DetregError(
            f"--img-size {size[0]}x{size[1]}: both sides must be multiples of the stride {stride}"
        )
    out_dir = Path(args.work_dir) if args.work_dir else weights.parent
    name = args.name or (weights.stem + ("_nms" if args.nms else ""))
    meta = {
        "names": json.dumps(names),
        "stride": str(stride),
        "img_size": json.dumps(list(size)),
        "input": "images float32 [B,3,H,W] RGB in [0,1], letterboxed",
        "int8": json.dumps(int8),
        "nms": json.dumps(
            {"conf": args.conf, "iou": args.iou, "max_det": args.max_det} if args.nms else None
        ),
    }
    path, module = export_onnx(
        model,
        out_dir / f"{name}.onnx",
        size,
        args.batch,
        args.dynamic,
        args.nms,
        args.conf,
        args.iou,
        args.max_det,
        args.opset,
        meta,
    )
    session = ort_session(path)
    batches = [args.batch] + ([args.batch + 1] if args.dynamic else [])
    ok = True
    for b in batches:
        x = check_input(size, b, args.check_image)
        if args.nms:
            s = compare_nms(session, model, x, args.conf, args.iou, args.max_det, args.atol)
            bad = s["bad_images"] or s["score_diff"] > args.atol
            bad = bad or s["box_diff"] > args.atol + args.rtol * max(size)
            notes = ""
            if s["tie_images"]:
                notes += f", {int(s['tie_images'])} image(s) differ only by tied scores"
            if s["bad_images"]:
                notes += f", {int(s['bad_images'])} image(s) disagree"
            if not s["detections"]:
                notes += " (no detections on this input: pass --check-image to check the NMS part)"
            print(
                f"onnxruntime vs postprocess (batch {b}): {int(s['matched'])}/{int(s['detections'])} "
                f"detections matched, max abs diff boxes {s['box_diff']:.2e} scores {s['score_diff']:.2e}"
                f"{notes}"
            )
        else:
            diff = compare_raw(session, model, x)
            bad = diff > args.atol + args.rtol * max(size)
            print(f"onnxruntime vs pytorch (batch {b}): max abs diff {diff:.2e}")
        ok = ok and not bad
    shape = f"[{'B' if args.dynamic else args.batch},3,{size[0]},{size[1]}]"
    if not ok:
        print(
            f"detreg-export: error: ONNX Runtime disagrees with PyTorch beyond --atol {args.atol} "
            f"(+ --rtol {args.rtol}); the file is kept for inspection: {path}",
            file=sys.stderr,
        )
        return EXIT_MISMATCH
    outs = ", ".join(NMS_OUTPUTS) if args.nms else f"outputs [B,A,{4 + len(names)}]"
    print(f"exported {path} (opset {args.opset}, images {shape} -> {outs})")
    return 0
