"""Flat, per-kind registries of components, filled by decorators and entry points.

One registry per kind (``MODELS``, ``HOOKS``, ...), no scopes, no parent search.

Registering::

    @HOOKS.register()                       # name = class/function name
    @LOSSES.register("VFL", aliases=("VarifocalLoss",))
    @HOOKS.register(override=True)          # replace a taken name on purpose

Building::

    HOOKS.build({"type": "EMAHook", "decay": 0.9999}, key_path="hooks.ema")

``type`` may also be a dotted import path (``mypkg.hooks.MyHook``) for local code.

Nested components (explicit): a constructor parameter annotated
``Annotated[<any type>, BACKBONES]`` receives its config mapping (or a list of mappings)
built through that registry; every other parameter receives the value as written, so a
component that wants a raw config dict simply leaves the annotation off.

Run context (explicit): ``build(..., context={...})`` offers values such as ``img_size``
or ``num_classes`` to every component (nested ones too) whose signature has a parameter
of exactly that name and whose config does not set it. The config always wins.

Built-in components are listed in ``detreg/_index.py`` (module per name) and imported only
when first asked for, so ``detreg list`` needs no torch. Third-party components come from
entry points ``detreg.<kind>`` (lazy) and ``detreg.plugins`` (modules imported at start).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import sys
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from detreg.errors import RegistryError
from detreg.events import misspelt_events

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

BUILTIN_ORIGIN = "detreg"


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


def plugin_failures() -> list[PluginFailure]:
    """Plugins that failed to load so far (after discovery)."""
    discover()
    return list(_PLUGINS.failures)


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
    """Maps names to components of one kind (see the module docstring)."""

    def __init__(self, kind: str, validator: Callable[[Any], list[str]] | None = None) -> None:
        self.kind = kind
        self.singular = "loss" if kind == "losses" else kind[:-1]
        self.group = f"detreg.{kind}"
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

    # ------------------------------------------------------------------ lookup
    def names(self) -> list[str]:
        """All known names (aliases included), without importing anything heavy."""
        discover()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        """All known entries (aliases included), sorted by name, without importing them."""
        discover()
        return [self._entries[n] for n in sorted(self._entries)]

    def __contains__(self, name: str) -> bool:
        discover()
        return name in self._entries

    def __len__(self) -> int:
        discover()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r})"

    def get(self, name: str, key_path: str | None = None) -> Any:
        """Return the component called ``name`` (or at dotted import path ``name``)."""
        where = f"{key_path}: " if key_path else ""
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{where}'type' must be a non-empty string, got {name!r}")
        discover()
        entry = self._entries.get(name)
        if entry is None and "." in name:
            return _import_dotted(name, where)
        if entry is None:
            raise RegistryError(where + self._unknown_message(name))
        if entry.obj is None:
            self._load(entry, where)
        return self._entries[name].obj

    def _load(self, entry: Entry, where: str) -> None:
        target = entry.target or ""
        module, _, attr = target.partition(":")
        try:
            mod = importlib.import_module(module)
            obj = getattr(mod, attr) if attr else None
        except Exception as exc:  # a plugin may fail any way at all: report, keep going
            if entry.origin == BUILTIN_ORIGIN:
                raise
            fail = PluginFailure(entry.origin, target, f"{type(exc).__name__}: {exc}")
            if fail not in _PLUGINS.failures:
                _PLUGINS.failures.append(fail)
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
        singular = self.singular
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.6)
        lowered = {n.lower(): n for n in self._entries}
        if name.lower() in lowered and lowered[name.lower()] not in close:
            close.insert(0, lowered[name.lower()])
        msg = f"unknown {singular} '{name}'."
        if close:
            msg += " Did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
        msg += f" List them with `detreg list {self.kind}`."
        fails = [f for f in _PLUGINS.failures]
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
        model for an optimizer); ``context`` values are offered by parameter name (see the
        module docstring). Nested ``Annotated[..., REGISTRY]`` parameters are built too.
        """
        obj, kwargs = self._resolve(cfg, key_path, context, defaults)
        try:
            return obj(**kwargs)
        except RegistryError:
            raise
        except (TypeError, ValueError) as exc:
            from detreg.errors import ConfigError

            raise ConfigError(f"{key_path or self.kind}: {cfg.get('type')}: {exc}") from exc

    def _resolve(
        self,
        cfg: Mapping[str, Any],
        key_path: str,
        context: Mapping[str, Any] | None,
        defaults: Mapping[str, Any],
    ) -> tuple[Any, dict[str, Any]]:
        problems = self.check(cfg, key_path, context, provided=defaults)
        if problems:
            from detreg.errors import ConfigError

            raise ConfigError(problems)
        obj = self.get(cfg["type"], _join(key_path, "type"))
        params = _parameters(obj)
        kwargs = {k: v for k, v in cfg.items() if k != "type"}
        for k, v in defaults.items():
            kwargs.setdefault(k, v)
        if params is not None:
            for pname, (_, registry) in params.items():
                if pname not in kwargs and context and pname in context:
                    kwargs[pname] = context[pname]
                if registry is not None and pname in kwargs:
                    kwargs[pname] = _build_nested(registry, kwargs[pname], _join(key_path, pname), context)
        return obj, kwargs

    def check(
        self,
        cfg: Any,
        key_path: str = "",
        context: Mapping[str, Any] | None = None,
        provided: Iterable[str] = (),
    ) -> list[str]:
        """Problems with ``cfg`` as a config for this kind, without building anything.

        Checks that ``type`` resolves, every key is a parameter of the target, required
        parameters are given (or offered by ``context``/``provided``), and recurses into
        nested registry parameters. Returns messages prefixed with their key paths.
        """
        where = key_path or self.kind
        if not isinstance(cfg, Mapping):
            return [f"{where}: expected a mapping with 'type', got {type(cfg).__name__} {cfg!r}"]
        if "type" not in cfg:
            return [f"{where}: missing 'type' (one of `detreg list {self.kind}`)"]
        try:
            obj = self.get(cfg["type"], _join(key_path, "type"))
        except RegistryError as exc:
            return [str(exc)]
        params = _parameters(obj)
        if params is None:  # **kwargs: anything goes
            return []
        problems = []
        given = set(cfg) - {"type"}
        for key in sorted(given - set(params)):
            close = difflib.get_close_matches(key, list(params), n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            accepted = ", ".join(params) or "no arguments"
            problems.append(
                f"{_join(key_path, key)}: {cfg['type']} has no argument '{key}'.{hint} It accepts: {accepted}"
            )
        available = given | set(provided) | set(context or ())
        for pname, (required, registry) in params.items():
            if required and pname not in available:
                problems.append(
                    f"{_join(key_path, pname)}: {cfg['type']} needs '{pname}' and the config does not set it"
                )
            if registry is not None and pname in cfg:
                problems += _check_nested(registry, cfg[pname], _join(key_path, pname), context)
        return problems


def _join(a: str, b: str) -> str:
    return f"{a}.{b}" if a else b


def _build_nested(registry: Registry, value: Any, key_path: str, context: Mapping[str, Any] | None) -> Any:
    if isinstance(value, Mapping) and "type" in value:
        return registry.build(value, key_path, context)
    if isinstance(value, (list, tuple)):
        return [_build_nested(registry, v, f"{key_path}[{i}]", context) for i, v in enumerate(value)]
    return value  # already built, or None


def _check_nested(
    registry: Registry, value: Any, key_path: str, context: Mapping[str, Any] | None
) -> list[str]:
    if isinstance(value, Mapping):
        return registry.check(value, key_path, context)
    if isinstance(value, (list, tuple)):
        out: list[str] = []
        for i, v in enumerate(value):
            out += _check_nested(registry, v, f"{key_path}[{i}]", context)
        return out
    return []


def _parameters(obj: Any) -> dict[str, tuple[bool, Registry | None]] | None:
    """``{name: (required, nested registry or None)}``, or None if it takes ``**kwargs``."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:  # unresolvable annotations (TYPE_CHECKING imports): no nesting info
        hints = {}
    out: dict[str, tuple[bool, Registry | None]] = {}
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind is p.VAR_POSITIONAL:
            continue
        registry = None
        hint = hints.get(p.name)
        if typing.get_origin(hint) is typing.Annotated:
            registry = next((m for m in hint.__metadata__ if isinstance(m, Registry)), None)
        out[p.name] = (p.default is p.empty, registry)
    return out


def _import_dotted(path: str, where: str) -> Any:
    module, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise RegistryError(f"{where}cannot import '{path}': {exc}") from exc
    except AttributeError as exc:
        raise RegistryError(f"{where}module '{module}' has no attribute '{attr}'") from exc


# ---------------------------------------------------------------------- discovery
def discover() -> None:
    """Fill the registries with built-in names and entry points (once per process)."""
    if _PLUGINS.discovered:
        return
    _PLUGINS.discovered = True
    from detreg._index import BUILTINS

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
            old = reg._entries.get(ep.name)
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
    _PLUGINS.discovered = False
    _PLUGINS.failures.clear()
    for reg in REGISTRIES.values():
        for name in [n for n, e in reg._entries.items() if e.obj is None or e.plugin]:
            del reg._entries[name]


MODELS = Registry("models")
BACKBONES = Registry("backbones")
NECKS = Registry("necks")
HEADS = Registry("heads")
LOSSES = Registry("losses")
ASSIGNERS = Registry("assigners")
OPTIMIZERS = Registry("optimizers")
SCHEDULERS = Registry("schedulers")
HOOKS = Registry("hooks", validator=misspelt_events)
DATASETS = Registry("datasets")
TRANSFORMS = Registry("transforms")
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
