"""The hook event names (contract) and the check that rejects misspelt ones.

Kept free of heavy imports so the registry can check hooks when they are registered.
"""

from __future__ import annotations

import difflib

#: Events in the order a training run fires them (``before_val``/``after_val`` inside an
#: epoch's validation, ``after_run`` always, in a ``finally``).
EVENTS: tuple[str, ...] = (
    "before_run",
    "configure_model",
    "before_train",
    "before_epoch",
    "before_step",
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

_EVENT_PREFIXES = ("before_", "after_", "on_", "configure_")


def misspelt_events(cls: type) -> list[str]:
    """Names of public methods of ``cls`` that look like events but are not.

    Returns one message per offending method, with the closest real event name.
    """
    problems = []
    for name, value in vars(cls).items():
        if not callable(value) or name.startswith("_") or name in ALL_EVENTS:
            continue
        if name.startswith(_EVENT_PREFIXES):
            close = difflib.get_close_matches(name, ALL_EVENTS, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else "events are: " + ", ".join(ALL_EVENTS)
            problems.append(f"{cls.__module__}.{cls.__qualname__}.{name} is not a hook event; {hint}")
    return problems
