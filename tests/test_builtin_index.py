"""``detreg/_index.py`` lists exactly the registered built-ins (regenerate: tools/gen_index.py)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_index_is_up_to_date() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_index
    finally:
        sys.path.pop(0)
    from detreg._index import BUILTINS

    fresh = gen_index.collect()
    for kind in fresh:
        stale = set(BUILTINS.get(kind, {})) ^ set(fresh[kind])
        assert not stale, f"{kind}: index out of date for {sorted(stale)}; run `python tools/gen_index.py`"
        assert BUILTINS[kind] == fresh[kind], f"{kind}: modules moved; run `python tools/gen_index.py`"
