"""Per-class AP table as plain text, for logs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{float(v):.3f}"


def format_table(results: Mapping[str, Any]) -> str:
    """A fixed-width table: one ``all`` row, then one row per class.

    Uses ``per_class`` (AP50:95) and, when present, ``per_class_ap50`` and
    ``per_class_instances`` from an evaluator's results; a class without gt shows ``-``.
    """
    per = dict(results.get("per_class") or {})
    ap50 = dict(results.get("per_class_ap50") or {})
    inst = dict(results.get("per_class_instances") or {})
    width = max([len("class"), *(len(str(k)) for k in per)]) + 2
    head = f"{'class':<{width}}{'instances':>10}{'AP50':>9}{'AP50_95':>9}"
    total = sum(int(v) for v in inst.values()) if inst else None
    lines = [
        head,
        "-" * len(head),
        f"{'all':<{width}}{total if total is not None else '-':>10}"
        f"{_fmt(results.get('mAP50')):>9}{_fmt(results.get('mAP50_95')):>9}",
    ]
    for name, ap in per.items():
        n = inst.get(name, "-")
        lines.append(f"{name:<{width}}{n:>10}{_fmt(ap50.get(name)):>9}{_fmt(ap):>9}")
    return "\n".join(lines)
