"""Flat, per-kind registries of components, filled by decorators and entry points.

One registry per kind (``MODELS``, ``HOOKS``, ...), no scopes, no parent search. The
package has three parts, all re-exported here (``detreg.registry`` is the import path):
:mod:`~detreg.registry.names` (the :class:`Registry` class and the registries),
:mod:`~detreg.registry.building` (building and validating configs) and
:mod:`~detreg.registry.plugins` (discovery of built-ins and plugins).

Registering::

    @HOOKS.register()                       # name = class/function name
    @LOSSES.register("VFL", aliases=("VarifocalLoss",))
    @HOOKS.register(override=True)          # replace a taken name on purpose

Building::

    HOOKS.build({"type": "EMAHook", "decay": 0.9999}, key_path="hooks.ema")

``type`` may also be a dotted import path (``mypkg.hooks.MyHook``) for local code, in a
config file the user passed (never in a config stored in a checkpoint); it must name a
class that subclasses the base of its kind (``nn.Module`` for models, backbones, necks,
heads and losses, ``Hook`` for hooks, ``Transform`` for transforms, ``Dataset`` for
datasets, ``Optimizer``/``LRScheduler`` for optimizers/schedulers; any class for the rest).

Arguments are checked against the signature before anything is built: unknown keys, missing
required ones, and values against their annotations (``Literal``, ``int``, ``float``,
``bool``, ``Annotated[T, Range(...)]``, ...). A class whose ``__init__`` takes ``**kwargs``
is checked against its parents' signatures too, so subclasses declare only what they add.

Nested components (explicit): a constructor parameter annotated
``Annotated[<any type>, BACKBONES]`` receives its config mapping (or a list of mappings)
built through that registry; every other parameter receives the value as written, so a
component that wants a raw config dict simply leaves the annotation off.

Run context (explicit): ``build(..., context={...})`` offers values such as ``img_size``
or ``num_classes`` to every component (nested ones too) whose signature (its parents'
through ``**kwargs`` included) has a parameter of exactly that name and whose config does
not set it. The config always wins.

Built-in components are listed in ``detreg/_index.py`` (module per name) and imported only
when first asked for, so ``detreg list`` needs no torch. Third-party components come from
entry points ``detreg.<kind>`` (lazy) and ``detreg.plugins`` (modules imported at start).
"""

from __future__ import annotations

from detreg.registry.building import code_references, forwards_kwargs, parameters
from detreg.registry.names import (
    ASSIGNERS,
    BACKBONES,
    DATASETS,
    EVALUATORS,
    HEADS,
    HOOKS,
    KINDS,
    LOSSES,
    MODELS,
    NECKS,
    OPTIMIZERS,
    REGISTRIES,
    SCHEDULERS,
    STEPS,
    TRANSFORMS,
    Entry,
    Registry,
    find,
    is_registered,
)
from detreg.registry.plugins import (
    BUILTIN_ORIGIN,
    PluginFailure,
    discover,
    plugin_failures,
    reset_discovery,
)
from detreg.registry.values import Range

__all__ = [
    "ASSIGNERS",
    "BACKBONES",
    "BUILTIN_ORIGIN",
    "DATASETS",
    "EVALUATORS",
    "HEADS",
    "HOOKS",
    "KINDS",
    "LOSSES",
    "MODELS",
    "NECKS",
    "OPTIMIZERS",
    "REGISTRIES",
    "SCHEDULERS",
    "STEPS",
    "TRANSFORMS",
    "Entry",
    "PluginFailure",
    "Range",
    "Registry",
    "code_references",
    "discover",
    "find",
    "forwards_kwargs",
    "is_registered",
    "parameters",
    "plugin_failures",
    "reset_discovery",
]
