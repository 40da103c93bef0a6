"""The hook event names and argument lists (contract), and the checks that reject bad overrides.

Kept free of heavy imports so the registry can check hooks when they are registered.
"""

from __future__ import annotations

import difflib
import inspect

#: Events in the order a training run fires them (``before_val``/``after_val`` inside an
#: epoch's validation, ``after_run`` always, in a ``finally``).
EVENTS: tuple[str, ...] = (
    "before_run",
    "configure_model",
    "before_train",
    "before_epoch",
    "before_step",
    "after_forward",
    "after_backward",
    "after_optimizer_step",
    "after_step",
    "after_epoch",
    "before_val",
    "after_val",
    "after_train",
    "after_run",
)

#: Calls that carry an extra argument and are not part of the per-step timeline.
SPECIAL_EVENTS: tuple[str, ...] = ("on_save_checkpoint", "on_load_checkpoint", "on_exception")

ALL_EVENTS: tuple[str, ...] = EVENTS + SPECIAL_EVENTS

#: The arguments each event is called with (after ``self``), by name.
EVENT_ARGS: dict[str, tuple[str, ...]] = {
    **{e: ("runner",) for e in EVENTS},
    "on_save_checkpoint": ("runner", "checkpoint"),
    "on_load_checkpoint": ("runner", "checkpoint"),
    "on_exception": ("runner", "exc"),
}

#: Event names of other frameworks (mmengine, detectron2, Lightning) and detreg's equivalent,
#: so a hook ported from them gets the right suggestion.
EVENT_ALIASES: dict[str, str] = {
    "before_train_iter": "before_step",
    "after_train_iter": "after_step",
    "before_train_epoch": "before_epoch",
    "after_train_epoch": "after_epoch",
    "before_val_epoch": "before_val",
    "after_val_epoch": "after_val",
    "after_val_iter": "after_val",
    "before_val_iter": "before_val",
    "after_load_checkpoint": "on_load_checkpoint",
    "before_save_checkpoint": "on_save_checkpoint",
    "after_iter": "after_step",
    "before_iter": "before_step",
    "on_train_batch_start": "before_step",
    "on_train_batch_end": "after_step",
    "on_train_epoch_start": "before_epoch",
    "on_train_epoch_end": "after_epoch",
    "on_train_start": "before_train",
    "on_train_end": "after_train",
    "on_validation_start": "before_val",
    "on_validation_end": "after_val",
    "on_fit_start": "before_run",
    "on_fit_end": "after_run",
    "on_after_backward": "after_backward",
    "on_before_backward": "after_forward",
}

_EVENT_PREFIXES = ("before_", "after_", "on_", "configure_")


def suggest_event(name: str) -> str | None:
    """The detreg event ``name`` most likely means (alias map first, then spelling)."""
    if name in EVENT_ALIASES:
        return EVENT_ALIASES[name]
    close = difflib.get_close_matches(name, ALL_EVENTS, n=1, cutoff=0.5)
    return close[0] if close else None


def misspelt_events(cls: type) -> list[str]:
    """Names of public methods of ``cls`` that look like events but are not.

    Returns one message per offending method, with the closest real event name.
    """
    problems = []
    for name, value in vars(cls).items():
        if not callable(value) or name.startswith("_") or name in ALL_EVENTS:
            continue
        if name.startswith(_EVENT_PREFIXES):
            close = suggest_event(name)
            hint = f"did you mean '{close}'?" if close else "events are: " + ", ".join(ALL_EVENTS)
            problems.append(f"{cls.__module__}.{cls.__qualname__}.{name} is not a hook event; {hint}")
    return problems


def bad_signatures(cls: type) -> list[str]:
    """Event overrides of ``cls`` whose arguments do not fit the event's (see :data:`EVENT_ARGS`).

    Like pluggy's ``_verify_hook``: each required positional argument after ``self`` must be
    named as the event passes it, in order; extra arguments need defaults; ``*args`` accepts
    anything. One message per offending method.
    """
    problems = []
    for name, value in vars(cls).items():
        if name not in EVENT_ARGS or not inspect.isfunction(value):
            continue
        expected = EVENT_ARGS[name]
        params = list(inspect.signature(value).parameters.values())[1:]  # drop self
        if any(p.kind is p.VAR_POSITIONAL for p in params):
            continue
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        required = [p for p in params if p.default is p.empty and p.kind is not p.VAR_KEYWORD]
        names = [p.name for p in positional[: len(expected)]]
        if (
            len(positional) < len(expected)
            or len(required) > len(expected)
            or any(p.kind is p.KEYWORD_ONLY for p in required)
            or names != list(expected)
        ):
            got = ", ".join(str(p) for p in params)
            problems.append(
                f"{cls.__module__}.{cls.__qualname__}.{name}(self, {got}) does not match the event: "
                f"it is called as {name}(self, {', '.join(expected)})"
            )
    return problems
