"""YAML configs: loading with ``_base_`` inheritance, overrides, validation and dumping.

Rules (contract):

- A mapping with ``type:`` is a component.
- ``_base_: [a.yaml, ...]`` (or one string) inherits, paths relative to the file. A child
  mapping merges into its base key by key; ``_delete_: true`` in a child mapping replaces
  the base mapping instead; a ``null`` value removes the key.
- ``key.sub=value`` overrides (values parsed as YAML) apply after loading, with the same
  ``null`` rule.
- ``imports: [module, ...]`` are imported before validation (the config's folder is on
  ``sys.path`` while importing) so local code can register components.

Every value remembers where it was written (``file:line``, or ``command line``) so errors
can say where to look.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml

from detreg.builtin_configs import builtin_config_names, find_builtin
from detreg.errors import ConfigError, DetregError
from detreg.optim.recipe import RECIPE_KEYS, stop_aug_epochs
from detreg.registry.values import Range, value_problem

TOP_LEVEL_KEYS = (
    "model",
    "data",
    "optimizer",
    "scheduler",
    "hooks",
    "train",
    "work_dir",
    "imports",
    "_base_",
)

_OPTIONAL = object()

#: Every ``train.<key>``: its type (checked like a component argument, see
#: :mod:`detreg.registry.values`) and default (``_OPTIONAL``: no default, may be left out).
TRAIN_SCHEMA: dict[str, tuple[Any, Any]] = {
    "epochs": (Annotated[int, Range(min=1)], 300),
    "batch_size": (Annotated[int, Range(min=1)], 16),
    "img_size": (Annotated[int, Range(min=1)], 640),
    "workers": (Annotated[int, Range(min=0)], 2),
    "device": (str | int, "auto"),
    "amp": (bool, True),
    "seed": (int, 0),
    "deterministic": (bool, False),
    "compile": (bool, _OPTIONAL),  # torch.compile the model's forward (read by the train step)
    "step": (dict, {"type": "TrainStep"}),
    "accumulate": (Annotated[int, Range(min=1)] | None, _OPTIONAL),
    "find_unused_parameters": (bool, _OPTIONAL),
    "sync_bn": (bool, _OPTIONAL),
    # the recipe (RECIPE_KEYS): one value for every component, through the run context
    "warmup_epochs": (Annotated[float, Range(min=0)], _OPTIONAL),
    "stop_aug_epochs": (Annotated[int, Range(min=0)], _OPTIONAL),
    "nominal_batch_size": (Annotated[int, Range(min=1)] | Literal["auto"] | None, _OPTIONAL),
    # fine-tuning and memory layout (TRAIN_HOOKS): each switches on its hook and reaches it
    # through the run context
    "pretrained": (str | None, _OPTIONAL),
    "freeze": (list[str] | None, _OPTIONAL),
    "channels_last": (bool, _OPTIONAL),
}

#: ``train.<key>`` settings that a hook carries out: setting the key adds ``hooks.<name>:
#: {type: <Hook>}`` unless the config already has a hook of that type (or switched
#: ``hooks.<name>`` off with null); the hook reads the value by parameter name from the run
#: context. ``train.pretrained`` is the one way to start from weights.
TRAIN_HOOKS: dict[str, tuple[str, str]] = {
    "pretrained": ("pretrained", "LoadWeightsHook"),
    "freeze": ("freeze", "FreezeHook"),
    "channels_last": ("channels_last", "ChannelsLastHook"),
}

#: The knobs people change most, with their defaults (``train.<key>``).
TRAIN_DEFAULTS: dict[str, Any] = {k: d for k, (_, d) in TRAIN_SCHEMA.items() if d is not _OPTIONAL}

#: Every accepted key of the ``train`` section (a test checks that something reads each).
TRAIN_KEYS = tuple(TRAIN_SCHEMA)

#: Keys of the ``data`` section.
DATA_KEYS = ("source", "synth", "train", "val", "unlabeled", "nc", "names", "loader", "val_batch_size")

#: Keys people expect but nothing reads yet: rejected with what to do instead (a key that
#: nothing reads must not pass validation).
NOT_SUPPORTED_KEYS: dict[str, str] = {}

#: Hooks every run has unless the config switches them off with ``hooks.<name>: null``.
DEFAULT_HOOKS: dict[str, Any] = {
    "checkpoint": {"type": "CheckpointHook"},
    "progress": {"type": "ProgressHook"},
    "metrics": {"type": "MetricsFileHook"},
    "tensorboard": {"type": "TensorBoardHook"},
    "images": {"type": "ImagesHook"},
}

#: ``hooks.logger`` was one hook writing all of these; ``hooks.logger: null`` still switches them all off.
LOGGER_HOOKS = ("progress", "metrics", "tensorboard", "images")

#: Names offered to every component whose signature has a parameter of that exact name
#: (with the recipe settings of the ``train:`` section, :data:`RECIPE_KEYS`).
CONTEXT_KEYS = (
    *RECIPE_KEYS,
    *TRAIN_HOOKS,
    "img_size",
    "batch_size",
    "epochs",
    "num_classes",
    "class_names",
    "seed",
    "workers",
    "iters_per_epoch",
)


@dataclass
class Config:
    """A resolved config: the plain dict plus where each key was written."""

    data: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    def where(self, key_path: str) -> str:
        """``file:line`` of ``key_path`` or of its closest written parent, or ''."""
        parts = key_path.replace("[", ".").replace("]", "").split(".")
        while parts:
            hit = self.sources.get(".".join(parts))
            if hit:
                return hit
            parts.pop()
        return str(self.path) if self.path else ""

    def locate(self, problem: str) -> str:
        """Prefix ``problem`` (which starts with a key path) with its source location."""
        key = problem.split(":", 1)[0].strip()
        where = self.where(key) if key and " " not in key else ""
        return f"{where}: {problem}" if where else problem


# ---------------------------------------------------------------------- yaml with lines
class _LineLoader(yaml.SafeLoader):
    """A SafeLoader that records the line of every mapping key."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    lines: dict[Any, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
        lines[key] = key_node.start_mark.line + 1
    loader.key_lines[id(out)] = lines
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _collect_lines(
    obj: Any, loader_lines: dict[int, dict], prefix: str, file: str, out: dict[str, str]
) -> None:
    if isinstance(obj, dict):
        lines = loader_lines.get(id(obj), {})
        for k, v in obj.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if k in lines:
                out[path] = f"{file}:{lines[k]}"
            _collect_lines(v, loader_lines, path, file, out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _collect_lines(v, loader_lines, f"{prefix}[{i}]", file, out)


def read_yaml(path: str | Path, display: str | None = None) -> tuple[Any, dict[str, str]]:
    """Parse one YAML file; returns the data and ``{key path: 'file:line'}``.

    ``display`` is how messages name the file (default: ``path`` relative to the working
    folder when it lies below it).
    """
    path = Path(path)
    shown = display if display is not None else _display(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DetregError(f"config file not found: {shown}") from None
    except IsADirectoryError:
        raise DetregError(f"{shown}: is a folder, not a config file") from None
    except OSError as exc:
        raise DetregError(f"cannot read config file {shown}: {exc.strerror}") from None
    loader = _LineLoader(text)
    loader.key_lines = {}
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DetregError(f"{shown}{line}: invalid YAML: {problem}") from None
    finally:
        loader.dispose()
    sources: dict[str, str] = {}
    _collect_lines(data, loader.key_lines, "", shown, sources)
    return data, sources


def _display(path: Path) -> str:
    """``path`` relative to the working folder when it lies below it (shorter messages)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _typed(path: Path) -> str:
    """A path as the user typed it (normalised: ``a/./b/../c`` -> ``a/c``)."""
    return os.path.normpath(str(path))


# ---------------------------------------------------------------------- merge and load
def merge(base: Any, child: Any) -> Any:
    """Merge ``child`` into ``base`` (copies; see the module docstring for the rules)."""
    if not isinstance(child, Mapping) or not isinstance(base, Mapping):
        return copy.deepcopy(child)
    if child.get("_delete_"):
        return {k: copy.deepcopy(v) for k, v in child.items() if k != "_delete_"}
    out = copy.deepcopy(dict(base))
    for k, v in child.items():
        if v is None:
            out.pop(k, None)
        elif k in out:
            out[k] = merge(out[k], v)
        else:
            out[k] = _strip(v)
    return out


def _strip(value: Any) -> Any:
    """Drop ``_delete_`` markers and ``null`` keys from a value that has no base."""
    if isinstance(value, Mapping):
        return {k: _strip(v) for k, v in value.items() if k != "_delete_" and v is not None}
    return copy.deepcopy(value)


def _load_tree(
    path: Path, seen: tuple[Path, ...], root: dict | None = None, display: str | None = None
) -> tuple[dict, dict[str, str]]:
    shown = display if display is not None else _display(path)
    path = path.resolve() if path.exists() else path
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise DetregError(f"{shown}: _base_ cycle: {chain}")
    data, sources = read_yaml(path, shown)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise DetregError(f"{shown}: a config must be a mapping at the top level, got {type(data).__name__}")
    bases = data.pop("_base_", [])
    if isinstance(bases, str):
        bases = [bases]
    merged: dict = copy.deepcopy(root or {})
    merged_sources: dict[str, str] = {}
    for b in bases:
        if not isinstance(b, str):
            raise DetregError(f"{sources.get('_base_', shown)}: _base_ entries must be file paths, got {b!r}")
        base_path, base_shown = _find_base(b, path, shown)
        if base_path is None:
            known = ", ".join(builtin_config_names())
            raise DetregError(
                f"{sources.get('_base_', shown)}: _base_ file not found: {b} (looked in "
                f"{_typed(Path(shown).parent / b)} and the built-in configs: {known})"
            )
        bdata, bsources = _load_tree(base_path, (*seen, path), display=base_shown)
        merged = merge(merged, bdata)
        merged_sources.update(bsources)
    merged = merge(merged, data)
    merged_sources.update(sources)
    return merged, merged_sources


def _find_base(name: str, parent: Path, parent_shown: str) -> tuple[Path | None, str]:
    """A ``_base_`` entry: relative to the including file's folder, else a built-in config
    (``yolov6n.yaml``); with the name messages use for it."""
    candidate = Path(name)
    if candidate.is_absolute():
        return (candidate if candidate.exists() else None), name
    beside = parent.parent / candidate
    if beside.exists():
        return beside, _typed(Path(parent_shown).parent / candidate)
    builtin = find_builtin(name)
    return builtin, (_display(builtin) if builtin is not None else name)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into the key parts and the YAML-parsed value."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key.sub=value")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or any(not p for p in key.split(".")):
        raise ConfigError(f"override '{text}': bad key '{key}'")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override '{text}': value is not valid YAML ({exc})") from None
    return key.split("."), value


def apply_override(cfg: dict, text: str, sources: dict[str, str] | None = None) -> None:
    """Apply one ``key.sub=value`` override to ``cfg`` in place."""
    parts, value = parse_override(text)
    node: Any = cfg
    for i, p in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = _list_item(node, p, parts[: i + 1], text)
            continue
        if node.get(p) is None:
            node[p] = {}
        elif not isinstance(node[p], (dict, list)):
            raise ConfigError(f"override '{text}': '{'.'.join(parts[: i + 1])}' is a value, not a mapping")
        node = node[p]
    last = parts[-1]
    if isinstance(node, list):
        idx = int(last) if last.lstrip("-").isdigit() else None
        if idx is None or not -len(node) <= idx < len(node):
            raise ConfigError(
                f"override '{text}': '{last}' is not an index of the list at {'.'.join(parts[:-1])}"
            )
        node[idx] = value
    elif value is None:
        node.pop(last, None)
    elif isinstance(value, dict) and isinstance(node.get(last), dict):
        node[last] = merge(node[last], value)
    else:
        node[last] = value
    if sources is not None:
        sources[".".join(parts)] = "command line"


def _list_item(node: list, p: str, parts: list[str], text: str) -> Any:
    if not p.lstrip("-").isdigit() or not -len(node) <= int(p) < len(node):
        raise ConfigError(f"override '{text}': '{p}' is not an index of the list at {'.'.join(parts[:-1])}")
    return node[int(p)]


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """Load ``path`` with its ``_base_`` chain, apply ``overrides``, fill defaults.

    Does not validate (see :func:`validate`) and opens no dataset.
    """
    path = Path(path)
    data, sources = _load_tree(
        path,
        (),
        root={"train": TRAIN_DEFAULTS, "hooks": DEFAULT_HOOKS},
        display=_display(path) if path.is_absolute() else _typed(path),
    )
    for text in overrides:
        apply_override(data, text, sources)
    for key in ("train", "hooks"):
        if not isinstance(data.get(key), dict):
            raise ConfigError(f"{sources.get(key, path)}: '{key}' must be a mapping")
    _logger_alias(data["hooks"], sources)
    _train_hooks_alias(data["train"], data["hooks"], sources)
    return Config(data, sources, path)


def _train_hooks_alias(train: dict[str, Any], hooks: dict[str, Any], sources: dict[str, str]) -> None:
    """Add the hook of each :data:`TRAIN_HOOKS` key the config sets (``train.pretrained`` ->
    ``hooks.pretrained: {type: LoadWeightsHook}``), unless a hook of that type is configured
    or ``hooks.<name>`` was switched off (validation then says nothing reads the key)."""
    for key, (name, hook_type) in TRAIN_HOOKS.items():
        if train.get(key) in (None, "", []):
            continue
        types = {h.get("type") for h in hooks.values() if isinstance(h, Mapping)}
        switched_off = f"hooks.{name}" in sources and hooks.get(name) is None
        if hook_type in types or switched_off or name in hooks:
            continue
        hooks[name] = {"type": hook_type}
        if f"train.{key}" in sources:
            sources[f"hooks.{name}"] = sources[f"train.{key}"]


def _logger_alias(hooks: dict[str, Any], sources: dict[str, str]) -> None:
    """``hooks.logger: null`` (the name of the former single logging hook) switches off every
    writer hook of :data:`LOGGER_HOOKS`; any other ``hooks.logger`` value says what replaced it.

    A null removes its key while loading, so the switch is seen in ``sources``.
    """
    if hooks.get("logger") is not None:
        raise ConfigError(
            f"{sources.get('hooks.logger', 'config')}: hooks.logger: LoggerHook was split into "
            "hooks.progress (ProgressHook), hooks.metrics (MetricsFileHook), hooks.tensorboard "
            "(TensorBoardHook) and hooks.images (ImagesHook); configure those "
            "(hooks.logger: null still switches them all off)"
        )
    if "hooks.logger" not in sources:
        return
    hooks.pop("logger", None)
    for name in LOGGER_HOOKS:
        if name in hooks and hooks[name] == DEFAULT_HOOKS.get(name):  # one the config set stays
            hooks[name] = None


def import_modules(cfg: Config) -> None:
    """Import the config's ``imports:`` so local components register themselves."""
    mods = cfg.data.get("imports") or []
    if isinstance(mods, str):
        mods = [mods]
    folder = str(cfg.path.resolve().parent) if cfg.path else None
    added = folder is not None and folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        for i, m in enumerate(mods):
            try:
                importlib.import_module(m)
            except Exception as exc:  # the user's own code: report where it was asked for
                where = cfg.where(f"imports[{i}]") or cfg.where("imports")
                raise ConfigError(
                    f"{where}: imports: cannot import '{m}': {type(exc).__name__}: {exc}"
                ) from exc
    finally:
        if added:
            sys.path.remove(folder)


# ---------------------------------------------------------------------- validation
def run_context(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The values offered to components by parameter name (see :mod:`detreg.registry`).

    From ``train:``: ``img_size``, ``batch_size``, ``epochs``, ``seed``, ``workers`` and the
    recipe settings :data:`RECIPE_KEYS` (``warmup_epochs``, ``nominal_batch_size`` as
    written; ``stop_aug_epochs`` scaled to the run by
    :func:`detreg.optim.recipe.stop_aug_epochs`, so the stop-aug and best-checkpoint hooks
    get the same window). From ``data:``: ``class_names``, ``num_classes``.
    """

    train = cfg.get("train", {})
    data = cfg.get("data") or {}
    keys = ("img_size", "batch_size", "epochs", "seed", "workers", *RECIPE_KEYS, *TRAIN_HOOKS)
    ctx = {k: train[k] for k in keys if k in train}
    if isinstance(ctx.get("stop_aug_epochs"), int) and isinstance(ctx.get("epochs"), int):
        ctx["stop_aug_epochs"] = stop_aug_epochs(ctx["stop_aug_epochs"], ctx["epochs"])
    names = data.get("names")
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if names is not None:
        ctx["class_names"] = list(names)
    nc = data.get("nc", len(names) if names is not None else None)
    if nc is not None:
        ctx["num_classes"] = nc
    return ctx


def validate(cfg: Config, need_data: bool = True) -> list[str]:
    """Every problem in the config, each prefixed with ``file:line: key.path``.

    Resolves every ``type`` (built-ins, plugins, dotted paths) and checks every keyword
    against the target's signature. Opens no dataset and builds nothing. With
    ``need_data=False`` (export, inference) the datasets are not checked.
    """
    from detreg.registry import DATASETS, HOOKS, MODELS, OPTIMIZERS, SCHEDULERS, STEPS

    d = cfg.data
    problems: list[str] = []
    for key in d:
        if key not in TOP_LEVEL_KEYS:
            close = difflib.get_close_matches(str(key), TOP_LEVEL_KEYS, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            problems.append(f"{key}: unknown top-level key.{hint} Known: {', '.join(TOP_LEVEL_KEYS[:-1])}")
    ctx_names = set(CONTEXT_KEYS)  # values arrive at build time (iters_per_epoch, nc from data)
    train = d["train"]
    problems += _check_train(train)
    if "model" not in d:
        problems.append("model: missing (a mapping with 'type', e.g. type: Detector)")
    else:
        problems += MODELS.check(d["model"], "model", ctx_names)
    if d.get("optimizer") is not None:
        problems += OPTIMIZERS.check(d["optimizer"], "optimizer", ctx_names, provided=("model",))
    if d.get("scheduler") is not None:
        problems += SCHEDULERS.check(d["scheduler"], "scheduler", ctx_names, provided=("optimizer",))
    problems += STEPS.check(train.get("step"), "train.step", ctx_names)
    if need_data:
        problems += _check_data(d.get("data"), DATASETS, ctx_names)
    hooks = d.get("hooks") or {}
    if not isinstance(hooks, Mapping):
        problems.append("hooks: must be a mapping from a name you choose to a hook config")
    else:
        for name, hcfg in hooks.items():
            if hcfg is None:
                continue
            kp = f"hooks.{name}"
            if isinstance(hcfg, Mapping):
                pr = hcfg.get("priority")
                if pr is not None and (not isinstance(pr, int) or isinstance(pr, bool)):
                    problems.append(f"{kp}.priority: must be an integer, got {pr!r}")
                hcfg = {k: v for k, v in hcfg.items() if k != "priority"}
            problems += HOOKS.check(hcfg, kp, ctx_names)
        problems += _check_train_hooks(train, hooks, HOOKS)
        if need_data:
            problems += _check_unlabeled_use(d.get("data"), hooks)
    return [cfg.locate(p) for p in problems]


def _hook_parameters(hcfg: Any, registry: Any) -> dict[str, Any]:
    """The constructor parameters of the hook ``hcfg`` names ({} when it cannot be resolved)."""
    import inspect

    from detreg.errors import RegistryError

    if not isinstance(hcfg, Mapping) or not isinstance(hcfg.get("type"), str):
        return {}
    try:
        return dict(inspect.signature(registry.get(hcfg["type"])).parameters)
    except (RegistryError, TypeError, ValueError):
        return {}


def _check_train_hooks(train: Mapping[str, Any], hooks: Mapping[str, Any], registry: Any) -> list[str]:
    """A :data:`TRAIN_HOOKS` key that is set needs a hook reading it; a hook that needs one
    (a parameter of that name without a default, not given) needs it set."""
    problems = []
    params = {name: _hook_parameters(h, registry) for name, h in hooks.items() if h is not None}
    for key, (name, hook_type) in TRAIN_HOOKS.items():
        if train.get(key) not in (None, "", []):
            if not any(key in p for p in params.values()):
                problems.append(
                    f"train.{key}: nothing reads it (hooks.{name} is switched off); add "
                    f"hooks.{name}: {{type: {hook_type}}} or remove train.{key}"
                )
            continue
        for hname, p in params.items():
            param = p.get(key)
            if param is not None and param.default is param.empty and key not in hooks[hname]:
                problems.append(f"hooks.{hname}: {hooks[hname]['type']} needs train.{key} (set it)")
    return problems


def _check_train(train: Mapping[str, Any]) -> list[str]:
    """Unknown ``train.*`` keys and values that do not fit :data:`TRAIN_SCHEMA`."""
    problems = []
    for key, value in train.items():
        if f"train.{key}" in NOT_SUPPORTED_KEYS:
            problems.append(f"train.{key}: {NOT_SUPPORTED_KEYS[f'train.{key}']}")
        elif key not in TRAIN_SCHEMA:
            close = difflib.get_close_matches(str(key), sorted(TRAIN_SCHEMA), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            problems.append(f"train.{key}: unknown key.{hint} Known: {', '.join(sorted(TRAIN_SCHEMA))}")
        elif key != "step":  # a component: checked through STEPS
            problem = value_problem(value, TRAIN_SCHEMA[key][0])
            if problem:
                problems.append(f"train.{key}: {problem}")
    return problems


def model_stride(model_cfg: Any) -> int | None:
    """The multiple an input side must be for the model ``model_cfg`` describes, from the
    model class's ``input_multiple(cfg)`` (no build); None when the class does not say."""
    from detreg.errors import RegistryError
    from detreg.registry import MODELS

    if not isinstance(model_cfg, Mapping) or not isinstance(model_cfg.get("type"), str):
        return None
    try:
        fn = getattr(MODELS.get(model_cfg["type"]), "input_multiple", None)
    except RegistryError:
        return None
    return int(fn(model_cfg)) if callable(fn) else None


def round_img_size(cfg: Config) -> None:
    """Round ``train.img_size`` up to a multiple of the model's stride, with a warning, so
    every component it reaches (datasets, transforms, the model) gets the rounded size."""
    import logging

    size = cfg.data["train"].get("img_size")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        return  # reported by validation
    stride = model_stride(cfg.data.get("model"))
    if stride and size % stride:
        rounded = -(-size // stride) * stride
        cfg.data["train"]["img_size"] = rounded
        where = cfg.where("train.img_size")
        logging.getLogger("detreg").warning(
            "%strain.img_size=%d is not a multiple of the model stride %d: using %d",
            f"{where}: " if where else "",
            size,
            stride,
            rounded,
        )


def _check_data(data: Any, registry: Any, ctx_names: set[str]) -> list[str]:
    if data is None:
        return []
    if not isinstance(data, Mapping):
        return [f"data: must be a mapping with train/val datasets, got {type(data).__name__}"]
    problems = []
    for key in data:
        if f"data.{key}" in NOT_SUPPORTED_KEYS:
            problems.append(f"data.{key}: {NOT_SUPPORTED_KEYS[f'data.{key}']}")
        elif key not in DATA_KEYS:
            close = difflib.get_close_matches(str(key), DATA_KEYS, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            problems.append(f"data.{key}: unknown key.{hint} Known: {', '.join(DATA_KEYS)}")
    for split in ("train", "val"):
        if data.get(split) is not None:
            problems += registry.check(data[split], f"data.{split}", ctx_names)
    unlabeled = data.get("unlabeled")
    if unlabeled is not None:
        if isinstance(unlabeled, Mapping) and "type" not in unlabeled:
            unlabeled = {"type": "UnlabeledDataset", **unlabeled}
        problems += registry.check(unlabeled, "data.unlabeled", ctx_names)
    return problems


def _check_unlabeled_use(data: Any, hooks: Mapping[str, Any]) -> list[str]:
    """``data.unlabeled`` and the semi-supervised hooks (``reads_unlabeled``) need each other."""
    from detreg.errors import RegistryError
    from detreg.registry import HOOKS

    readers = []
    for name, hcfg in hooks.items():
        if isinstance(hcfg, Mapping) and isinstance(hcfg.get("type"), str):
            try:
                cls = HOOKS.get(hcfg["type"])
            except RegistryError:
                continue  # reported by the hook check
            if getattr(cls, "reads_unlabeled", False):
                readers.append(name)
    has_data = isinstance(data, Mapping) and data.get("unlabeled") is not None
    if has_data and not readers:
        return [
            "data.unlabeled: set, but no semi-supervised hook reads it (it would be silently ignored); "
            "add one, e.g. hooks.semi: {type: DenseTeacherHook}, or remove data.unlabeled"
        ]
    if readers and not has_data:
        return [f"hooks.{n}: a semi-supervised hook needs data.unlabeled (unlabeled images)" for n in readers]
    return []


def check(cfg: Config, need_data: bool = True) -> None:
    """Import the config's modules and validate; raise one ConfigError with every problem."""
    import_modules(cfg)
    problems = validate(cfg, need_data)
    if not problems:
        round_img_size(cfg)
    if problems:
        where = f" {cfg.path}" if cfg.path else ""
        raise ConfigError(problems, header=f"{len(problems)} problem(s) in config{where}")


def dump(cfg: Config | Mapping[str, Any], path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    data = cfg.data if isinstance(cfg, Config) else dict(cfg)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(_plain(data), sort_keys=False, allow_unicode=True))
    tmp.replace(path)


def _plain(obj: Any) -> Any:
    """Convert tuples/Paths to YAML-safe plain values."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj
