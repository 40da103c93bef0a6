"""Building and validating component configs against constructor signatures.

A parameter's annotation decides how its config value is treated:
``Annotated[T, REGISTRY]`` builds the value (a mapping with ``type``, or a list of them)
through that registry; any other annotation is used to check the value (see
:mod:`detreg.registry.values`). A constructor that takes ``**kwargs`` is checked against
its parents too: the classes of its MRO are walked while the signature so far still has
``**kwargs``, so a subclass declares only what it adds and its base's arguments (and the
run context offered to them) still arrive and are checked.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from detreg.errors import ConfigError, RegistryError
from detreg.registry.names import Registry, is_registered
from detreg.registry.values import coerce, value_problem


@dataclass
class Param:
    """One accepted argument: whether it is required, its annotation, its nested registry."""

    required: bool
    hint: Any = None
    registry: Registry | None = None


def _join(a: str, b: str) -> str:
    return f"{a}.{b}" if a else b


def _is_plain_module_init(klass: type) -> bool:
    """``torch.nn.Module.__init__``: takes ``*args, **kwargs`` but accepts none of them."""
    return klass.__module__ == "torch.nn.modules.module" and klass.__name__ == "Module"


def _signature_params(fn: Any, skip_first: bool) -> tuple[dict[str, Param], bool]:
    """``({name: Param}, has **kwargs)`` of one function."""
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable annotations (TYPE_CHECKING imports): no type info
        hints = {}
    out: dict[str, Param] = {}
    var_kw = False
    for i, p in enumerate(sig.parameters.values()):
        if skip_first and i == 0:
            continue
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
            continue
        if p.kind is p.VAR_POSITIONAL:
            continue
        hint = hints.get(p.name)
        registry = None
        if typing.get_origin(hint) is typing.Annotated:
            registry = next((m for m in hint.__metadata__ if isinstance(m, Registry)), None)
        out[p.name] = Param(p.default is p.empty, hint, registry)
    return out, var_kw


def parameters(obj: Any) -> dict[str, Param] | None:
    """``{name: Param}`` that ``obj(**kwargs)`` accepts, or None when that cannot be known.

    For a class whose ``__init__`` takes ``**kwargs``, the parents' ``__init__`` are added
    (MRO order, the subclass's declaration wins) until one without ``**kwargs``. Reaching
    ``object`` with ``**kwargs`` still open (they go somewhere else) gives None, as does a
    function with ``**kwargs`` that does not name where they go (``fn.__kwargs_to__``).
    """
    if not inspect.isclass(obj):
        try:
            params, var_kw = _signature_params(obj, skip_first=False)
        except (TypeError, ValueError):
            return None
        target = getattr(obj, "__kwargs_to__", None)
        if var_kw and target is not None:
            rest = parameters(target)
            if rest is None:
                return None
            return {**params, **{k: v for k, v in rest.items() if k not in params}}
        return None if var_kw else params
    out: dict[str, Param] = {}
    for klass in obj.__mro__:
        if "__init__" not in vars(klass):
            continue
        if klass is object:
            return None  # **kwargs still open and nobody declares them
        if _is_plain_module_init(klass):
            return out
        try:
            params, var_kw = _signature_params(vars(klass)["__init__"], skip_first=True)
        except (TypeError, ValueError):
            return None
        for name, p in params.items():
            out.setdefault(name, p)
        if not var_kw:
            return out
    return None


def forwards_kwargs(target: Any) -> Any:
    """Decorator for a function whose ``**kwargs`` all go to ``target``: its config is then
    checked against both signatures (as for a subclass and its base)."""

    def deco(fn: Any) -> Any:
        fn.__kwargs_to__ = target
        return fn

    return deco


# ---------------------------------------------------------------------- dotted paths
def import_component(registry: Registry, path: str, where: str) -> Any:
    """The class at dotted ``path``, which must subclass ``registry``'s base of its kind."""
    module, _, attr = path.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise RegistryError(f"{where}cannot import '{path}': {exc}") from exc
    except AttributeError as exc:
        raise RegistryError(f"{where}module '{module}' has no attribute '{attr}'") from exc
    except Exception as exc:  # the user's module failed while importing: say so in one line
        raise RegistryError(f"{where}importing '{module}' failed: {type(exc).__name__}: {exc}") from exc
    base = registry.base_class()
    if not inspect.isclass(obj) or (base is not None and not issubclass(obj, base)):
        want = f"a subclass of {base.__module__}.{base.__qualname__}" if base else "a class"
        raise RegistryError(
            f"{where}'{path}' is not a {registry.singular}: a {registry.singular} named by import path "
            f"must be {want} (or a registered name: `detreg list {registry.kind}`)"
        )
    return obj


def code_references(tree: Any, key_path: str = "") -> list[str]:
    """Key paths of everything in a config tree that would import code: ``imports:`` and
    every ``type:`` that is a dotted import path rather than a registered name."""
    found: list[str] = []
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            kp = _join(key_path, str(key))
            if key == "imports" and not key_path and value:
                found.append(f"imports: {value}")
            elif key == "type" and isinstance(value, str) and "." in value and not is_registered(value):
                found.append(f"{kp}: {value}")
            else:
                found += code_references(value, kp)
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            found += code_references(value, f"{key_path}[{i}]")
    return found


# ---------------------------------------------------------------------- checking
def check_component(
    registry: Registry,
    cfg: Any,
    key_path: str = "",
    context: Iterable[str] | Mapping[str, Any] | None = None,
    provided: Iterable[str] = (),
) -> list[str]:
    """Problems with ``cfg`` as a config for ``registry``'s kind, without building anything.

    Checks that ``type`` resolves, every key is a parameter of the target (its parents'
    too, through ``**kwargs``), every value fits its annotation, required parameters are
    given (or offered by ``context``/``provided``), and recurses into nested registry
    parameters. Returns messages prefixed with their key paths.
    """
    where = key_path or registry.kind
    if not isinstance(cfg, Mapping):
        return [f"{where}: expected a mapping with 'type', got {type(cfg).__name__} {cfg!r}"]
    if "type" not in cfg:
        return [f"{where}: missing 'type' (one of `detreg list {registry.kind}`)"]
    try:
        obj = registry.get(cfg["type"], _join(key_path, "type"))
    except RegistryError as exc:
        return [str(exc)]
    params = parameters(obj)
    if params is None:  # **kwargs that go nobody knows where: anything goes
        return []
    problems = []
    given = set(cfg) - {"type"}
    for key in sorted(given - set(params), key=str):
        close = difflib.get_close_matches(str(key), list(params), n=1, cutoff=0.6)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        accepted = ", ".join(params) or "no arguments"
        kp = _join(key_path, str(key))
        problems.append(f"{kp}: {cfg['type']} has no argument '{key}'.{hint} It accepts: {accepted}")
    available = given | set(provided) | set(context or ())
    for pname, p in params.items():
        kp = _join(key_path, pname)
        if p.required and pname not in available:
            problems.append(f"{kp}: {cfg['type']} needs '{pname}' and the config does not set it")
        if pname not in cfg:
            continue
        if p.registry is not None:
            problems += _check_nested(p.registry, cfg[pname], kp, context)
        else:
            problem = value_problem(cfg[pname], p.hint)
            if problem:
                problems.append(f"{kp}: {problem}")
    return problems


def _check_nested(registry: Registry, value: Any, key_path: str, context: Any) -> list[str]:
    if isinstance(value, Mapping):
        return registry.check(value, key_path, context)
    if isinstance(value, (list, tuple)):
        out: list[str] = []
        for i, v in enumerate(value):
            out += _check_nested(registry, v, f"{key_path}[{i}]", context)
        return out
    return []


# ---------------------------------------------------------------------- building
def build_component(
    registry: Registry,
    cfg: Mapping[str, Any],
    key_path: str,
    context: Mapping[str, Any] | None,
    defaults: Mapping[str, Any],
) -> Any:
    """Check ``cfg`` and call its target with the config, ``defaults`` and ``context``."""
    problems = check_component(registry, cfg, key_path, context, provided=defaults)
    if problems:
        raise ConfigError(problems)
    obj = registry.get(cfg["type"], _join(key_path, "type"))
    params = parameters(obj)
    kwargs = {k: v for k, v in cfg.items() if k != "type"}
    for k, v in defaults.items():
        kwargs.setdefault(k, v)
    if params is not None:
        for pname, p in params.items():
            if pname not in kwargs and context and pname in context:
                kwargs[pname] = context[pname]
            if pname not in kwargs:
                continue
            if p.registry is not None:
                kwargs[pname] = _build_nested(p.registry, kwargs[pname], _join(key_path, pname), context)
            elif pname in cfg:
                kwargs[pname] = coerce(kwargs[pname], p.hint)
    try:
        return obj(**kwargs)
    except RegistryError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key_path or registry.kind}: {cfg.get('type')}: {exc}") from exc


def _build_nested(registry: Registry, value: Any, key_path: str, context: Mapping[str, Any] | None) -> Any:
    if isinstance(value, Mapping) and "type" in value:
        return registry.build(value, key_path, context)
    if isinstance(value, (list, tuple)):
        return [_build_nested(registry, v, f"{key_path}[{i}]", context) for i, v in enumerate(value)]
    return value  # already built, or None
