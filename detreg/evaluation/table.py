"""Per-class table (instances, precision, recall, AP) as plain text, for logs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{float(v):.3f}"


def _mean(values: list[Any]) -> float | None:
    valid = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return sum(valid) / len(valid) if valid else None


def format_table(results: Mapping[str, Any]) -> str:
    """A fixed-width table: one ``all`` row, then one row per class.

    Uses ``per_class`` (AP50:95) and, when present, ``per_class_instances``,
    ``per_class_precision``, ``per_class_recall`` (at the class's best-F1 point, IoU 0.5;
    the ``all`` row shows their means) and ``per_class_ap50`` from an evaluator's results;
    a class without gt shows ``-``.
    """
    per = dict(results.get("per_class") or {})
    ap50 = dict(results.get("per_class_ap50") or {})
    inst = dict(results.get("per_class_instances") or {})
    prec = dict(results.get("per_class_precision") or {})
    rec = dict(results.get("per_class_recall") or {})
    width = max([len("class"), *(len(str(k)) for k in per)]) + 2
    head = f"{'class':<{width}}{'instances':>10}{'P':>9}{'R':>9}{'AP50':>9}{'AP50_95':>9}"
    total = sum(int(v) for v in inst.values()) if inst else None
    lines = [
        head,
        "-" * len(head),
        f"{'all':<{width}}{total if total is not None else '-':>10}"
        f"{_fmt(_mean(list(prec.values()))):>9}{_fmt(_mean(list(rec.values()))):>9}"
        f"{_fmt(results.get('mAP50')):>9}{_fmt(results.get('mAP50_95')):>9}",
    ]
    for name, ap in per.items():
        n = inst.get(name, "-")
        lines.append(
            f"{name:<{width}}{n:>10}{_fmt(prec.get(name)):>9}{_fmt(rec.get(name)):>9}"
            f"{_fmt(ap50.get(name)):>9}{_fmt(ap):>9}"
        )
    return "\n".join(lines)
