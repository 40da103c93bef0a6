"""The :class:`Registry` class and the flat, per-kind registries (``MODELS``, ``HOOKS``, ...).

Names only: registering, aliases, duplicate detection, lookup with did-you-mean. Building
and validating configs lives in :mod:`detreg.registry.building` (the ``build``/``check``
methods delegate there); discovery of built-ins and plugins in :mod:`detreg.registry.plugins`.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from detreg.errors import RegistryError
from detreg.events import misspelt_events
from detreg.registry.plugins import (
    BUILTIN_ORIGIN,
    PluginFailure,
    discover,
    failures_so_far,
    record_failure,
)

KINDS: tuple[str, ...] = (
    "models",
    "backbones",
    "necks",
    "heads",
    "losses",
    "assigners",
    "optimizers",
    "schedulers",
    "hooks",
    "datasets",
    "transforms",
    "evaluators",
    "steps",
)


@dataclass
class Entry:
    """A registered component (or a lazily known one, ``obj is None``)."""

    name: str
    origin: str  # "detreg", a distribution name, or "module <name>"
    obj: Any = None
    target: str | None = None  # "module" or "module:attr" to import when obj is None
    canonical: str | None = None  # for aliases: the main name
    aliases: tuple[str, ...] = ()
    plugin: bool = False  # came from an entry point


def _origin_of_module(module: str) -> str:
    if module == "detreg" or module.startswith("detreg."):
        return BUILTIN_ORIGIN
    top = module.split(".")[0]
    try:
        from importlib_metadata import packages_distributions

        dists = packages_distributions().get(top)
    except Exception:  # metadata can be broken in odd environments; origin is cosmetic
        dists = None
    return dists[0] if dists else f"module {module}"


class Registry:
    """Maps names to components of one kind (see :mod:`detreg.registry`).

    ``base`` (``"module:Class"``, imported only when needed) is the class a component named
    by dotted import path must subclass; registered components are trusted as they are.
    ``None`` accepts any class (never a plain function) by dotted path.
    """

    def __init__(
        self, kind: str, validator: Callable[[Any], list[str]] | None = None, base: str | None = None
    ) -> None:
        self.kind = kind
        self.singular = "loss" if kind == "losses" else kind[:-1]
        self.group = f"detreg.{kind}"
        self.base = base
        self._entries: dict[str, Entry] = {}
        self._validator = validator

    # ------------------------------------------------------------------ registration
    def register(
        self,
        name: str | Callable | None = None,
        *,
        aliases: Iterable[str] = (),
        override: bool = False,
    ) -> Callable:
        """Decorator that registers a class or function under ``name`` (default: its name)."""
        if callable(name) and not isinstance(name, str):  # used bare: @REG.register
            return self.register()(name)

        def deco(obj: Any) -> Any:
            self.add(obj, name=name, aliases=tuple(aliases), override=override)
            return obj

        return deco

    def add(
        self,
        obj: Any,
        name: str | None = None,
        aliases: tuple[str, ...] = (),
        override: bool = False,
        origin: str | None = None,
    ) -> None:
        """Register ``obj`` directly (what the decorator does)."""
        main = name or obj.__name__
        if self._validator is not None:
            problems = self._validator(obj)
            if problems:
                raise RegistryError(f"cannot register {self.singular} '{main}': " + "; ".join(problems))
        module = getattr(obj, "__module__", "?")
        origin = origin or _origin_of_module(module)
        for n in (main, *aliases):
            self._check_free(n, obj, module, origin, override)
        self._entries[main] = Entry(main, origin, obj, aliases=tuple(aliases))
        for a in aliases:
            self._entries[a] = Entry(a, origin, obj, canonical=main)

    def _check_free(self, name: str, obj: Any, module: str, origin: str, override: bool) -> None:
        old = self._entries.get(name)
        if old is None or override:
            return
        if old.obj is None:
            # A lazily known built-in: its own module registering it is the normal path.
            if old.target and old.target.split(":")[0] == module:
                return
            where = old.target
        else:
            same = getattr(old.obj, "__module__", None) == module and getattr(
                old.obj, "__qualname__", None
            ) == getattr(obj, "__qualname__", None)
            if same or old.obj is obj:  # a module imported twice registers again
                return
            where = f"{old.obj.__module__}.{getattr(old.obj, '__qualname__', '?')}"
        new = f"{module}.{getattr(obj, '__qualname__', '?')}"
        raise RegistryError(
            f"{self.singular} name '{name}' is already registered by {where} ({old.origin}); "
            f"{new} ({origin}) tried to register it again. Pick another name, or pass "
            f"override=True to replace it on purpose."
        )

    def add_lazy(
        self, name: str, target: str, origin: str, canonical: str | None = None, plugin: bool = False
    ) -> None:
        """Know ``name`` without importing it yet (built-in index, entry points)."""
        self._entries.setdefault(
            name, Entry(name, origin, None, target=target, canonical=canonical, plugin=plugin)
        )

    def forget_lazy(self) -> None:
        """Drop names known from the index or entry points (for re-discovery in tests)."""
        for name in [n for n, e in self._entries.items() if e.obj is None or e.plugin]:
            del self._entries[name]

    # ------------------------------------------------------------------ lookup
    def names(self) -> list[str]:
        """All known names (aliases included), without importing anything heavy."""
        discover()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        """All known entries (aliases included), sorted by name, without importing them."""
        discover()
        return [self._entries[n] for n in sorted(self._entries)]

    def entry(self, name: str) -> Entry | None:
        """The entry called ``name`` as known so far (no discovery, no import), or None."""
        return self._entries.get(name)

    def __contains__(self, name: str) -> bool:
        discover()
        return name in self._entries

    def __len__(self) -> int:
        discover()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r})"

    def get(self, name: str, key_path: str | None = None) -> Any:
        """Return the component called ``name`` (or at dotted import path ``name``).

        A dotted path must name a class subclassing this kind's ``base``.
        """
        where = f"{key_path}: " if key_path else ""
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{where}'type' must be a non-empty string, got {name!r}")
        discover()
        entry = self._entries.get(name)
        if entry is None and "." in name:
            from detreg.registry.building import import_component

            return import_component(self, name, where)
        if entry is None:
            raise RegistryError(where + self._unknown_message(name))
        if entry.obj is None:
            self._load(entry, where)
        return self._entries[name].obj

    def base_class(self) -> type | None:
        """The class a dotted-path component of this kind must subclass (imported now)."""
        if self.base is None:
            return None
        module, _, attr = self.base.partition(":")
        return getattr(importlib.import_module(module), attr)

    def _load(self, entry: Entry, where: str) -> None:
        target = entry.target or ""
        module, _, attr = target.partition(":")
        try:
            mod = importlib.import_module(module)
            obj = getattr(mod, attr) if attr else None
        except Exception as exc:  # a plugin may fail any way at all: report, keep going
            if entry.origin == BUILTIN_ORIGIN:
                raise
            record_failure(PluginFailure(entry.origin, target, f"{type(exc).__name__}: {exc}"))
            raise RegistryError(
                f"{where}{self.singular} '{entry.name}' comes from plugin {entry.origin} "
                f"({target}), which failed to load: {type(exc).__name__}: {exc}"
            ) from exc
        current = self._entries.get(entry.name)
        if current is not None and current.obj is not None:
            return  # the module registered it with the decorator
        if obj is None:
            raise RegistryError(
                f"{where}{target} was expected to register {self.singular} '{entry.name}' "
                f"but did not (the built-in index is stale: run `python tools/gen_index.py`)"
            )
        self._entries[entry.name] = Entry(entry.name, entry.origin, obj, target=target, plugin=entry.plugin)

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.6)
        lowered = {n.lower(): n for n in self._entries}
        if name.lower() in lowered and lowered[name.lower()] not in close:
            close.insert(0, lowered[name.lower()])
        msg = f"unknown {self.singular} '{name}'."
        if close:
            msg += " Did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
        msg += f" List them with `detreg list {self.kind}`."
        fails = failures_so_far()
        if fails:
            msg += " Plugins that failed to load: " + "; ".join(str(f) for f in fails) + "."
        return msg

    # ------------------------------------------------------------------ building
    def build(
        self,
        cfg: Mapping[str, Any],
        key_path: str = "",
        context: Mapping[str, Any] | None = None,
        **defaults: Any,
    ) -> Any:
        """Build the component described by ``cfg`` (a mapping with ``type``).

        ``defaults`` fill arguments the config does not set (runtime objects such as the
        model for an optimizer); ``context`` values are offered by parameter name (see
        :mod:`detreg.registry`). Nested ``Annotated[..., REGISTRY]`` parameters are built too.
        """
        from detreg.registry.building import build_component

        return build_component(self, cfg, key_path, context, defaults)

    def check(
        self,
        cfg: Any,
        key_path: str = "",
        context: Mapping[str, Any] | None = None,
        provided: Iterable[str] = (),
    ) -> list[str]:
        """Problems with ``cfg`` as a config for this kind, without building anything.

        See :func:`detreg.registry.building.check_component`.
        """
        from detreg.registry.building import check_component

        return check_component(self, cfg, key_path, context, provided)


_MODULE = "torch.nn:Module"

MODELS = Registry("models", base=_MODULE)
BACKBONES = Registry("backbones", base=_MODULE)
NECKS = Registry("necks", base=_MODULE)
HEADS = Registry("heads", base=_MODULE)
LOSSES = Registry("losses", base=_MODULE)
ASSIGNERS = Registry("assigners")
OPTIMIZERS = Registry("optimizers", base="torch.optim:Optimizer")
SCHEDULERS = Registry("schedulers", base="torch.optim.lr_scheduler:LRScheduler")
HOOKS = Registry("hooks", validator=misspelt_events, base="detreg.engine.hook:Hook")
DATASETS = Registry("datasets", base="torch.utils.data:Dataset")
TRANSFORMS = Registry("transforms", base="detreg.data.transforms.base:Transform")
EVALUATORS = Registry("evaluators")
STEPS = Registry("steps")

REGISTRIES: dict[str, Registry] = {
    "models": MODELS,
    "backbones": BACKBONES,
    "necks": NECKS,
    "heads": HEADS,
    "losses": LOSSES,
    "assigners": ASSIGNERS,
    "optimizers": OPTIMIZERS,
    "schedulers": SCHEDULERS,
    "hooks": HOOKS,
    "datasets": DATASETS,
    "transforms": TRANSFORMS,
    "evaluators": EVALUATORS,
    "steps": STEPS,
}


def find(name: str) -> list[tuple[str, Entry]]:
    """Every ``(kind, entry)`` whose name is ``name``, across all registries."""
    discover()
    return [(k, r._entries[name]) for k, r in REGISTRIES.items() if name in r._entries]


def is_registered(name: Any) -> bool:
    """Whether ``name`` is a registered name of any kind (no import)."""
    discover()
    return isinstance(name, str) and any(name in r._entries for r in REGISTRIES.values())
