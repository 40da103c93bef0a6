"""Checking config values against the annotations of the parameter that receives them.

Understood: ``bool``, ``int``, ``float`` (ints too; YAML's ``1e-3``, which PyYAML reads as a
string, is accepted and converted), ``str``, ``typing.Literal``, unions/``Optional``,
sequences (``list``/``tuple``/``Sequence`` of the above), mappings, and
``Annotated[T, Range(...)]`` bounds. Anything else (classes, ``Any``, callables, unresolvable
annotations) is accepted as written: the check never rejects what it does not understand.
"""

from __future__ import annotations

import collections.abc as cabc
import types
import typing
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

_MISSING = object()


@dataclass(frozen=True)
class Range:
    """Bounds for a numeric parameter: ``Annotated[float, Range(0, 1, max_open=True)]``."""

    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False

    def problem(self, value: float, shown: Any = None) -> str | None:
        """Why ``value`` is out of bounds (``shown`` as written), or None."""
        lo_bad = self.min is not None and (value <= self.min if self.min_open else value < self.min)
        hi_bad = self.max is not None and (value >= self.max if self.max_open else value > self.max)
        if not (lo_bad or hi_bad):
            return None
        lo = "" if self.min is None else f"{'>' if self.min_open else '>='} {self.min}"
        hi = "" if self.max is None else f"{'<' if self.max_open else '<='} {self.max}"
        return f"must be {' and '.join(x for x in (lo, hi) if x)}, got {value if shown is None else shown!r}"


def _as_float(value: Any) -> float | object:
    if isinstance(value, bool):
        return _MISSING
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return _MISSING
    return _MISSING


def _describe(hint: Any) -> str:
    text = getattr(hint, "__name__", None) if isinstance(hint, type) else None
    return text or str(hint).replace("typing.", "").replace("collections.abc.", "")


_PHRASES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}


def _phrase(hint: Any) -> str:
    """A member of a union in words: ``an integer``, ``'auto'``, ``null``."""
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    return _PHRASES.get(hint) or _describe(hint)


def value_problem(value: Any, hint: Any) -> str | None:
    """Why ``value`` does not fit ``hint`` (a short phrase), or None when it fits or the
    annotation is not understood."""
    if hint is None or hint is Any or hint is typing.Any:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        problem = value_problem(value, args[0])
        if problem:
            return problem
        for meta in hint.__metadata__:
            if isinstance(meta, Range):
                number = _as_float(value)
                if number is not _MISSING:
                    problem = meta.problem(number, value)  # type: ignore[arg-type]
                    if problem:
                        return problem
        return None
    if origin is typing.Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return None
        return f"must be one of {', '.join(repr(a) for a in args)}, got {value!r}"
    if origin is typing.Union or origin is types.UnionType:
        results = [value_problem(value, a) for a in args]
        if any(r is None for r in results):
            return None
        # a member of the right type whose Range refuses the value says best what is wrong
        annotated = [
            (typing.get_args(a)[0], r)
            for a, r in zip(args, results)
            if typing.get_origin(a) is typing.Annotated
        ]
        ranged = [r for base, r in annotated if value_problem(value, base) is None]
        if len(ranged) == 1:
            return ranged[0]
        return f"expected {' or '.join(_phrase(a) for a in args)}, got {value!r}"
    if hint is type(None):
        return None if value is None else f"expected null, got {value!r}"
    if hint is bool:
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"expected an integer, got {value!r}"
    if hint is float:
        return None if _as_float(value) is not _MISSING else f"expected a number, got {value!r}"
    if hint is str:
        return None if isinstance(value, str) else f"expected a string, got {value!r}"
    if isinstance(hint, type) and issubclass(hint, PurePath):
        return None if isinstance(value, (str, PurePath)) else f"expected a path, got {value!r}"
    container = origin or hint
    if container in (list, tuple, cabc.Sequence, cabc.MutableSequence, set, frozenset):
        if not isinstance(value, (list, tuple)):
            return f"expected a list, got {value!r}"
        item_hints = [a for a in args if a is not Ellipsis]
        if container is tuple and args and Ellipsis not in args:
            if len(value) != len(args):
                return f"expected a list of {len(args)} values, got {value!r}"
            pairs = list(zip(value, args))
        else:
            pairs = [(v, item_hints[0]) for v in value] if len(item_hints) == 1 else []
        for v, h in pairs:
            problem = value_problem(v, h)
            if problem:
                return f"{problem} (in {value!r})"
        return None
    if container in (dict, cabc.Mapping, cabc.MutableMapping):
        return None if isinstance(value, cabc.Mapping) else f"expected a mapping, got {value!r}"
    return None


def coerce(value: Any, hint: Any) -> Any:
    """``value`` with numbers written as strings (``1e-3``) turned into floats where ``hint``
    wants a float and nothing else fits; everything else unchanged."""
    if isinstance(value, str) and value_problem(value, hint) is None and _wants_float(hint):
        number = _as_float(value)
        if number is not _MISSING and value_problem(value, _without_float(hint)) is not None:
            return number
    return value


def _wants_float(hint: Any) -> bool:
    if hint is float:
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _wants_float(typing.get_args(hint)[0])
    if origin is typing.Union or origin is types.UnionType:
        return any(_wants_float(a) for a in typing.get_args(hint))
    return False


def _without_float(hint: Any) -> Any:
    """``hint`` with ``float`` removed (to see whether a string fits another member)."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _without_float(typing.get_args(hint)[0])
    if origin is typing.Union or origin is types.UnionType:
        rest = [a for a in typing.get_args(hint) if a is not float]
        return typing.Union[tuple(rest)] if rest else type(None)  # noqa: UP007
    return type(None) if hint is float else hint
