"""Plugin discovery: built-in names from ``detreg/_index.py`` and third-party entry points.

Entry points ``detreg.<kind>`` make names known lazily (imported when first asked for);
``detreg.plugins`` modules are imported at discovery so they can register themselves.
A plugin that fails to load is recorded and reported, never fatal.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

BUILTIN_ORIGIN = "detreg"


@dataclass
class PluginFailure:
    """A plugin that could not be loaded; reported, never fatal."""

    dist: str
    entry: str
    error: str

    def __str__(self) -> str:
        return f"{self.dist} ({self.entry}): {self.error}"


@dataclass
class _PluginState:
    discovered: bool = False
    failures: list[PluginFailure] = field(default_factory=list)


_PLUGINS = _PluginState()


def _blocked() -> set[str]:
    raw = os.environ.get("DETREG_PLUGINS_BLOCK", "")
    return {x.strip() for x in raw.split(",") if x.strip()}


def record_failure(failure: PluginFailure) -> None:
    """Remember a plugin that failed to load (once)."""
    if failure not in _PLUGINS.failures:
        _PLUGINS.failures.append(failure)


def failures_so_far() -> list[PluginFailure]:
    """Plugin failures recorded so far, without triggering discovery."""
    return list(_PLUGINS.failures)


def plugin_failures() -> list[PluginFailure]:
    """Plugins that failed to load so far (after discovery)."""
    discover()
    return list(_PLUGINS.failures)


def discover() -> None:
    """Fill the registries with built-in names and entry points (once per process)."""
    if _PLUGINS.discovered:
        return
    _PLUGINS.discovered = True
    from detreg._index import BUILTINS
    from detreg.registry.names import REGISTRIES

    for kind, names in BUILTINS.items():
        reg = REGISTRIES[kind]
        for name, (module, canonical) in names.items():
            reg.add_lazy(name, module, BUILTIN_ORIGIN, canonical)
    try:
        from importlib_metadata import entry_points
    except ImportError:  # pragma: no cover - importlib-metadata is a dependency
        from importlib.metadata import entry_points  # type: ignore[assignment]

    blocked = _blocked()
    for reg in REGISTRIES.values():
        for ep in entry_points(group=reg.group):
            dist = ep.dist.name if ep.dist is not None else "?"
            if ep.name in blocked or dist in blocked:
                continue
            old = reg.entry(ep.name)
            if old is not None and old.origin != dist:
                _PLUGINS.failures.append(
                    PluginFailure(
                        dist,
                        ep.value,
                        f"{reg.singular} name '{ep.name}' is already taken by {old.target or old.origin} "
                        f"({old.origin}); the plugin's one is skipped",
                    )
                )
                continue
            reg.add_lazy(ep.name, ep.value, dist, plugin=True)
    for ep in entry_points(group="detreg.plugins"):
        dist = ep.dist.name if ep.dist is not None else "?"
        if ep.name in blocked or dist in blocked:
            continue
        try:
            ep.load()
        except Exception as exc:  # a broken plugin must not take the toolbox down
            _PLUGINS.failures.append(PluginFailure(dist, ep.value, f"{type(exc).__name__}: {exc}"))
    if _PLUGINS.failures:
        print(
            "detreg: some plugins failed to load (the rest works): "
            + "; ".join(str(f) for f in _PLUGINS.failures),
            file=sys.stderr,
        )


def reset_discovery() -> None:
    """Forget discovered entry points and plugin failures (for tests)."""
    from detreg.registry.names import REGISTRIES

    _PLUGINS.discovered = False
    _PLUGINS.failures.clear()
    for reg in REGISTRIES.values():
        reg.forget_lazy()
